#include "resize.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

#include "error.hpp"

namespace fastip {
namespace {

// Pillow keeps coefficients as integers with this many fractional bits for 8-bit images.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coefficients {
    int ksize = 0;
    std::vector<int> first;   // first source index per output index
    std::vector<int> count;   // number of source samples per output index
    std::vector<std::int32_t> weights;  // ksize per output index, fixed point
};

double triangle(double x) {
    x = std::fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

Coefficients coefficients(int in_size, int out_size) {
    const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
    const double filter_scale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filter_scale;
    Coefficients c;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.first.resize(out_size);
    c.count.resize(out_size);
    c.weights.assign(std::size_t(out_size) * c.ksize, 0);
    std::vector<double> k(c.ksize);
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double inv = 1.0 / filter_scale;
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double total = 0.0;
        for (int x = 0; x < xmax; ++x) {
            k[x] = triangle((x + xmin - center + 0.5) * inv);
            total += k[x];
        }
        for (int x = 0; x < xmax; ++x) {
            double w = total != 0.0 ? k[x] / total : k[x];
            c.weights[std::size_t(xx) * c.ksize + x] =
                static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
        }
        c.first[xx] = xmin;
        c.count[xx] = xmax;
    }
    return c;
}

std::uint8_t clip8(std::int64_t v) {
    if (v >= (std::int64_t(1) << kPrecisionBits << 8)) return 255;
    if (v <= 0) return 0;
    return static_cast<std::uint8_t>(v >> kPrecisionBits);
}

Image horizontal(const Image& in, int width, const Coefficients& c, int row0, int rows) {
    Image out(width, rows);
    for (int y = 0; y < rows; ++y) {
        for (int xx = 0; xx < width; ++xx) {
            const std::int32_t* k = &c.weights[std::size_t(xx) * c.ksize];
            std::int32_t s[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
            for (int x = 0; x < c.count[xx]; ++x) {
                const std::uint8_t* p = in.at(c.first[xx] + x, row0 + y);
                for (int ch = 0; ch < 3; ++ch) s[ch] += p[ch] * k[x];
            }
            for (int ch = 0; ch < 3; ++ch) out.at(xx, y)[ch] = clip8(s[ch]);
        }
    }
    return out;
}

Image vertical(const Image& in, int height, const Coefficients& c, int row_shift) {
    Image out(in.width, height);
    for (int yy = 0; yy < height; ++yy) {
        const std::int32_t* k = &c.weights[std::size_t(yy) * c.ksize];
        for (int x = 0; x < in.width; ++x) {
            std::int32_t s[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
            for (int y = 0; y < c.count[yy]; ++y) {
                const std::uint8_t* p = in.at(x, c.first[yy] - row_shift + y);
                for (int ch = 0; ch < 3; ++ch) s[ch] += p[ch] * k[y];
            }
            for (int ch = 0; ch < 3; ++ch) out.at(x, yy)[ch] = clip8(s[ch]);
        }
    }
    return out;
}

}  // namespace

Image resize_bilinear(const Image& image, int width, int height) {
    if (width < 1 || height < 1) throw Error("cannot resize to " + std::to_string(width) + "x" + std::to_string(height));
    if (width == image.width && height == image.height) return image;
    const Coefficients horiz = coefficients(image.width, width);
    const Coefficients vert = coefficients(image.height, height);
    // Like Pillow: the horizontal pass covers only the rows the vertical pass reads, each pass rounds to 8 bits.
    const int row_first = vert.first.front();
    const int row_last = vert.first.back() + vert.count.back();
    if (width == image.width) return vertical(image, height, vert, 0);
    Image wide = horizontal(image, width, horiz, row_first, row_last - row_first);
    if (height == image.height) return wide;
    return vertical(wide, height, vert, row_first);
}

}  // namespace fastip

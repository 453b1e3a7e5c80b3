#include "preprocess.hpp"

#include <algorithm>
#include <cmath>

#include "error.hpp"
#include "resize.hpp"

namespace fastip {
namespace {

// numpy's 'reflect' padding index: mirror about the edge without repeating it.
int reflect(int i, int n) {
    if (n == 1) return 0;
    const int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

}  // namespace

Tensor to_tensor(const Image& image, const ImageIO& io) {
    const std::size_t plane = std::size_t(image.width) * image.height;
    Tensor t{{1, 3, image.height, image.width}, std::vector<float>(3 * plane)};
    const float gain = static_cast<float>((io.value_range[1] - io.value_range[0]) / 255.0);
    const float low = static_cast<float>(io.value_range[0]);
    const bool bgr = io.colour_order == "BGR";
    for (int c = 0; c < 3; ++c) {
        const int source = bgr ? 2 - c : c;
        const float mean = static_cast<float>(io.mean[c]), std = static_cast<float>(io.std[c]);
        float* out = &t.data[c * plane];
        for (std::size_t i = 0; i < plane; ++i) {
            float x = static_cast<float>(image.pixels[3 * i + source]) * gain + low;
            out[i] = (x - mean) / std;
        }
    }
    return t;
}

Image to_image(const Tensor& tensor, const ImageIO& io) {
    if (tensor.shape.size() != 4 || tensor.shape[0] != 1 || tensor.shape[1] != 3) {
        throw Error("expected the model to output a 1x3xHxW image tensor");
    }
    const int height = static_cast<int>(tensor.shape[2]), width = static_cast<int>(tensor.shape[3]);
    const std::size_t plane = std::size_t(width) * height;
    const float low = static_cast<float>(io.value_range[0]);
    const float gain = static_cast<float>(255.0 / (io.value_range[1] - io.value_range[0]));
    const bool bgr = io.colour_order == "BGR";
    Image image(width, height);
    for (int c = 0; c < 3; ++c) {
        const int target = bgr ? 2 - c : c;
        const float mean = static_cast<float>(io.mean[c]), std = static_cast<float>(io.std[c]);
        const float* in = &tensor.data[c * plane];
        for (std::size_t i = 0; i < plane; ++i) {
            float x = in[i] * std + mean;
            x = (x - low) * gain;
            if (std::isnan(x)) x = 0.0f;
            x = std::nearbyint(x);  // the default rounding mode rounds half to even, as numpy's rint
            image.pixels[3 * i + target] = static_cast<std::uint8_t>(std::clamp(x, 0.0f, 255.0f));
        }
    }
    return image;
}

Image pad_to_multiple(const Image& image, int multiple) {
    const int pad_h = (multiple - image.height % multiple) % multiple;
    const int pad_w = (multiple - image.width % multiple) % multiple;
    if (pad_h == 0 && pad_w == 0) return image;
    const bool mirror = std::min(image.width, image.height) > std::max(pad_h, pad_w);
    Image out(image.width + pad_w, image.height + pad_h);
    for (int y = 0; y < out.height; ++y) {
        const int sy = mirror ? reflect(y, image.height) : std::min(y, image.height - 1);
        for (int x = 0; x < out.width; ++x) {
            const int sx = mirror ? reflect(x, image.width) : std::min(x, image.width - 1);
            std::copy_n(image.at(sx, sy), 3, out.at(x, y));
        }
    }
    return out;
}

Image crop(const Image& image, int width, int height) {
    width = std::min(width, image.width);
    height = std::min(height, image.height);
    Image out(width, height);
    for (int y = 0; y < height; ++y) std::copy_n(image.at(0, y), 3 * std::size_t(width), out.at(0, y));
    return out;
}

Image letterbox(const Image& image, int height, int width, const std::array<std::uint8_t, 3>& pad_pixel, Letterbox& box) {
    if (height < 1 || width < 1) throw Error("letterbox target size must be positive");
    const double scale = std::min(static_cast<double>(height) / image.height, static_cast<double>(width) / image.width);
    // Python's round() rounds half to even, as nearbyint does in the default rounding mode.
    const int new_h = std::max(1, std::min(height, static_cast<int>(std::nearbyint(image.height * scale))));
    const int new_w = std::max(1, std::min(width, static_cast<int>(std::nearbyint(image.width * scale))));
    const Image resized = resize_bilinear(image, new_w, new_h);
    Image canvas(width, height);
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) std::copy(pad_pixel.begin(), pad_pixel.end(), canvas.at(x, y));
    }
    const int top = (height - new_h) / 2, left = (width - new_w) / 2;
    for (int y = 0; y < new_h; ++y) std::copy_n(resized.at(0, y), 3 * std::size_t(new_w), canvas.at(left, top + y));
    // The exact per-axis scale after rounding, so that mapping back lands on the image borders.
    box.scale_x = static_cast<float>(static_cast<double>(new_w) / image.width);
    box.scale_y = static_cast<float>(static_cast<double>(new_h) / image.height);
    box.pad_x = static_cast<float>(left);
    box.pad_y = static_cast<float>(top);
    box.image_width = image.width;
    box.image_height = image.height;
    box.input_width = width;
    box.input_height = height;
    return canvas;
}

}  // namespace fastip

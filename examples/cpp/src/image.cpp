#include "image.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <fstream>
#include <limits>

#include "error.hpp"

#ifdef FASTIP_WITH_PNG
#include <png.h>
#endif

namespace fastip {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    if (s.size() < suffix.size()) return false;
    for (std::size_t i = 0; i < suffix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
    }
    return true;
}

// The next header integer of a PNM file, skipping whitespace and # comments.
int pnm_number(std::istream& in, const std::string& path) {
    int c = in.get();
    while (c != EOF && (std::isspace(c) || c == '#')) {
        if (c == '#') while (c != EOF && c != '\n') c = in.get();
        c = in.get();
    }
    long value = 0;
    if (c == EOF || !std::isdigit(c)) throw Error(path + " has a malformed PPM/PGM header");
    while (c != EOF && std::isdigit(c)) {
        value = value * 10 + (c - '0');
        if (value > std::numeric_limits<int>::max() / 16) throw Error(path + " has an absurd PPM/PGM header value");
        c = in.get();
    }
    return static_cast<int>(value);  // the single whitespace after the number is consumed
}

void check_size(const std::string& path, long long width, long long height) {
    if (width < 1 || height < 1 || width > 65535 || height > 65535) throw Error(path + ": image size " + std::to_string(width) + "x" + std::to_string(height) + " is out of range");
    if (width * height > kMaxImagePixels) {
        throw Error(path + " is " + std::to_string(width) + "x" + std::to_string(height) + " = " + std::to_string(width * height / 1000000) +
                    " MP, above the " + std::to_string(kMaxImagePixels / 1000000) + " MP image limit; downscale it");
    }
}

Image read_pnm(std::istream& in, const std::string& path, char kind) {
    int width = pnm_number(in, path), height = pnm_number(in, path), maxval = pnm_number(in, path);
    check_size(path, width, height);
    if (maxval != 255) throw Error(path + ": only 8-bit PPM/PGM (maxval 255) is supported, not maxval " + std::to_string(maxval));
    int channels = kind == '6' ? 3 : 1;
    std::vector<std::uint8_t> data(std::size_t(width) * height * channels);
    in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (in.gcount() != static_cast<std::streamsize>(data.size())) throw Error(path + " is truncated");
    if (channels == 3) {
        Image image(width, height);
        image.pixels = std::move(data);
        return image;
    }
    Image image(width, height);
    for (std::size_t i = 0; i < data.size(); ++i) image.pixels[3 * i] = image.pixels[3 * i + 1] = image.pixels[3 * i + 2] = data[i];
    return image;
}

#ifdef FASTIP_WITH_PNG
void on_png_error(png_structp png, png_const_charp message) {
    std::snprintf(static_cast<char*>(png_get_error_ptr(png)), 256, "%s", message);
    png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

// libpng's low-level reader with setjmp error handling: no C++ object with a destructor lives in this
// frame, and everything it fills lives in the caller. Samples come out as 8- or 16-bit RGB, big-endian,
// with no gamma or colour-space conversion (as Pillow reads them); returns false with `message` set.
bool decode_png(std::FILE* file, std::vector<std::uint8_t>* pixels, std::vector<png_bytep>* rows,
                png_uint_32* width, png_uint_32* height, int* depth, char* message) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, message, on_png_error, on_png_warning);
    if (!png) return false;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, nullptr, nullptr);
        return false;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        return false;
    }
    png_init_io(png, file);
    png_read_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    if (static_cast<long long>(*width) * *height > kMaxImagePixels) {  // header only: nothing decoded yet
        png_destroy_read_struct(&png, &info, nullptr);
        return true;
    }
    png_set_expand(png);  // palette -> RGB, 1/2/4-bit grey -> 8 bits, tRNS -> alpha
    png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);  // dropped, not composited: as fastip.images does
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    *depth = png_get_bit_depth(png, info);
    const std::size_t stride = png_get_rowbytes(png, info);
    pixels->resize(stride * *height);
    rows->resize(*height);
    for (png_uint_32 y = 0; y < *height; ++y) (*rows)[y] = pixels->data() + y * stride;
    png_read_image(png, rows->data());
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
}

Image read_png(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) throw Error("cannot open " + path);
    std::vector<std::uint8_t> samples;
    std::vector<png_bytep> rows;
    png_uint_32 width = 0, height = 0;
    int depth = 8;
    char message[256] = "";
    const bool ok = decode_png(file, &samples, &rows, &width, &height, &depth, message);
    std::fclose(file);
    if (!ok) throw Error("cannot read " + path + " as PNG: " + message);
    check_size(path, width, height);
    Image image(static_cast<int>(width), static_cast<int>(height));
    if (depth == 16) {
        for (std::size_t i = 0; i < image.pixels.size(); ++i) {
            const std::uint32_t v = (std::uint32_t(samples[2 * i]) << 8) | samples[2 * i + 1];
            image.pixels[i] = static_cast<std::uint8_t>((v * 255 + 32767) / 65535);  // round(v * 255 / 65535)
        }
    } else {
        image.pixels.assign(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(image.pixels.size()));
    }
    return image;
}
#endif

}  // namespace

bool png_supported() {
#ifdef FASTIP_WITH_PNG
    return true;
#else
    return false;
#endif
}

Image read_image(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("image file not found or unreadable: " + path);
    char magic[2] = {0, 0};
    in.read(magic, 2);
    if (magic[0] == 'P' && (magic[1] == '6' || magic[1] == '5')) return read_pnm(in, path, magic[1]);
    if (static_cast<unsigned char>(magic[0]) == 0x89 && magic[1] == 'P') {
#ifdef FASTIP_WITH_PNG
        return read_png(path);
#else
        throw Error(path + " is a PNG, but this host was built without libpng; convert it to PPM or rebuild with libpng-dev");
#endif
    }
    throw Error("cannot read " + path + ": give a binary PPM (P6), PGM (P5)" + std::string(png_supported() ? " or PNG" : "") + " file");
}

void write_image(const std::string& path, const Image& image) {
    std::string tmp = path + ".tmp";
    if (ends_with(path, ".png")) {
#ifdef FASTIP_WITH_PNG
        png_image png{};
        png.version = PNG_IMAGE_VERSION;
        png.width = static_cast<png_uint_32>(image.width);
        png.height = static_cast<png_uint_32>(image.height);
        png.format = PNG_FORMAT_RGB;
        if (!png_image_write_to_file(&png, tmp.c_str(), 0, image.pixels.data(), 0, nullptr)) {
            std::remove(tmp.c_str());
            throw Error("cannot write " + path + ": " + png.message);
        }
#else
        throw Error("cannot write " + path + ": this host was built without libpng; write .ppm instead");
#endif
    } else if (ends_with(path, ".ppm")) {
        std::ofstream out(tmp, std::ios::binary);
        out << "P6\n" << image.width << " " << image.height << "\n255\n";
        out.write(reinterpret_cast<const char*>(image.pixels.data()), static_cast<std::streamsize>(image.pixels.size()));
        out.close();
        if (!out) {
            std::remove(tmp.c_str());
            throw Error("cannot write " + path);
        }
    } else {
        throw Error("cannot tell the image format of " + path + "; use .ppm" + std::string(png_supported() ? " or .png" : ""));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error("cannot move " + tmp + " to " + path);
}

}  // namespace fastip

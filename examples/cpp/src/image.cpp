#include "image.hpp"

#include <cctype>
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

Image read_pnm(std::istream& in, const std::string& path, char kind) {
    int width = pnm_number(in, path), height = pnm_number(in, path), maxval = pnm_number(in, path);
    if (width < 1 || height < 1 || width > 65535 || height > 65535) throw Error(path + ": image size " + std::to_string(width) + "x" + std::to_string(height) + " is out of range");
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
Image read_png(const std::string& path) {
    png_image png{};
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&png, path.c_str())) throw Error("cannot read " + path + " as PNG: " + png.message);
    // Read RGBA and drop alpha, as fastip's Python reader does; asking libpng for RGB would composite
    // translucent pixels onto black instead.
    png.format = PNG_FORMAT_RGBA;
    std::vector<std::uint8_t> rgba(PNG_IMAGE_SIZE(png));
    if (!png_image_finish_read(&png, nullptr, rgba.data(), 0, nullptr)) {
        std::string message = png.message;
        png_image_free(&png);
        throw Error("cannot decode " + path + ": " + message);
    }
    Image image(static_cast<int>(png.width), static_cast<int>(png.height));
    for (std::size_t i = 0; i < image.pixels.size() / 3; ++i) std::copy_n(&rgba[4 * i], 3, &image.pixels[3 * i]);
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

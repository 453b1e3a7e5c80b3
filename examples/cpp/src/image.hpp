// 8-bit images in memory and on disk: binary PPM (P6) / PGM (P5), and PNG when built with libpng.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fastip {

// As fastip.images.MAX_IMAGE_PIXELS: larger files are refused from their header, before decoding.
constexpr long long kMaxImagePixels = 150000000;
// As fastip.pipeline.MAX_PIXELS: image models refuse larger (padded) inputs.
constexpr long long kMaxPipelinePixels = 64000000;

// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B.
struct Image {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;  // height * width * 3

    Image() = default;
    Image(int w, int h) : width(w), height(h), pixels(std::size_t(w) * h * 3, 0) {}
    std::uint8_t* at(int x, int y) { return &pixels[(std::size_t(y) * width + x) * 3]; }
    const std::uint8_t* at(int x, int y) const { return &pixels[(std::size_t(y) * width + x) * 3]; }
};

// Read a PPM/PGM (or PNG) file as RGB, as fastip.images.read_image does: grey is expanded, alpha
// dropped, 16-bit samples become round(v * 255 / 65535). Throws fastip::Error.
Image read_image(const std::string& path);
// Write RGB as PPM (.ppm), or PNG (.png) when built with libpng; the format follows the suffix.
void write_image(const std::string& path, const Image& image);
// Whether this build reads and writes PNG.
bool png_supported();

}  // namespace fastip

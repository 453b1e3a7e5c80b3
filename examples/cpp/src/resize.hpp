// Bilinear resizing that reproduces Pillow's Image.resize(..., BILINEAR) bit for bit, so that a detector
// sees the same letterboxed input here as in fastip's Python pipeline.
#pragma once

#include "image.hpp"

namespace fastip {

// Resize with a triangle filter whose support widens when shrinking (antialiasing), in 8-bit fixed point.
Image resize_bilinear(const Image& image, int width, int height);

}  // namespace fastip

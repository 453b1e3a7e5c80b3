// Pre- and post-processing from the manifest's `io`: the C++ twin of fastip/pipeline.py and the
// detector letterbox of fastip/detection/letterbox.py, operation for operation in float32.
#pragma once

#include <array>

#include "bundle.hpp"
#include "image.hpp"
#include "tensor.hpp"

namespace fastip {

// uint8 RGB -> 1x3xHxW float32: x = (p * (hi - lo) / 255 + lo - mean) / std, channels in io.colour_order.
Tensor to_tensor(const Image& image, const ImageIO& io);
// 1x3xHxW float32 -> uint8 RGB: the inverse of to_tensor, rounded half to even and clipped.
Image to_image(const Tensor& tensor, const ImageIO& io);
// Pad right and bottom to a multiple of `multiple` (mirror without repeating the edge; edge copy for tiny images).
Image pad_to_multiple(const Image& image, int multiple);
// The top-left `width` x `height` corner of an image.
Image crop(const Image& image, int width, int height);

// How an image was scaled and padded into a detector's input: input = image * scale + pad, per axis.
struct Letterbox {
    float scale_x = 1, scale_y = 1, pad_x = 0, pad_y = 0;
    int image_width = 0, image_height = 0;
    int input_width = 0, input_height = 0;

    // Normalised model-input coordinates -> original-image pixels.
    float to_image_x(float x) const { return (x * static_cast<float>(input_width) - pad_x) / scale_x; }
    float to_image_y(float y) const { return (y * static_cast<float>(input_height) - pad_y) / scale_y; }
};

// Fit the image into (height, width) keeping its aspect ratio, centred, padded with `pad_pixel`.
Image letterbox(const Image& image, int height, int width, const std::array<std::uint8_t, 3>& pad_pixel, Letterbox& box);

}  // namespace fastip

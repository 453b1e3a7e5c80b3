// A dense float32 tensor in row-major order (NCHW for images).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fastip {

struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> data;

    std::size_t size() const {
        std::size_t n = 1;
        for (auto d : shape) n *= static_cast<std::size_t>(d);
        return n;
    }
};

}  // namespace fastip

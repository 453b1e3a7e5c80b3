// Image in, image or detections out: pre-processing + Runner + post-processing, all from the manifest.
#pragma once

#include <memory>
#include <vector>

#include "bundle.hpp"
#include "detection.hpp"
#include "image.hpp"
#include "runner.hpp"

namespace fastip {

// What one call produced: the input tensor fed, the raw outputs in manifest order, and the result.
struct PipelineResult {
    Tensor input;
    std::vector<Tensor> outputs;
    Image image;                       // image models
    std::vector<Detection> detections;  // detectors
};

class Pipeline {
public:
    Pipeline(const Bundle& bundle, const RunnerOptions& options);

    bool is_detector() const { return decoder_ != nullptr; }
    const Runner& runner() const { return runner_; }
    PipelineResult operator()(const Image& image);
    // The input tensor for an image (padding or letterboxing included), and the letterbox used.
    Tensor preprocess(const Image& image, Letterbox& box) const;
    // Only the inference, on an already preprocessed tensor (for timing).
    std::vector<Tensor> infer(const Tensor& input);

private:
    Manifest manifest_;
    Runner runner_;
    std::unique_ptr<FaceDecoder> decoder_;
};

// A copy of `image` with each box outlined and its keypoints marked.
Image draw_detections(const Image& image, const std::vector<Detection>& detections);

}  // namespace fastip

// Face-detector post-processing from the manifest's `io.extra`: SSD anchors (MediaPipe's
// SsdAnchorsCalculator), box/keypoint decoding and weighted NMS, as fastip/detection/ does it.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "preprocess.hpp"
#include "tensor.hpp"

namespace fastip {

struct Anchor {
    float x, y, w, h;  // centre and size, normalised to the model input
};

struct Detection {
    std::array<float, 4> box;  // xmin, ymin, xmax, ymax
    float score;
    std::vector<std::array<float, 2>> keypoints;  // (x, y)
};

// Anchors from the `anchors` spec (num_layers, strides, input_size, scales, aspect ratios, ...).
std::vector<Anchor> generate_anchors(const nlohmann::json& spec);

// Decoded candidates, normalised to the model input; one per anchor.
std::vector<Detection> decode(const Tensor& regressors, const Tensor& logits, const std::vector<Anchor>& anchors,
                              const nlohmann::json& spec);

// Blend each cluster of boxes overlapping the best remaining one (IoU > threshold) into a score-weighted mean.
std::vector<Detection> weighted_nms(std::vector<Detection> candidates, double iou_threshold, std::size_t max_detections);

// Everything the manifest says about turning raw detector outputs into detections.
class FaceDecoder {
public:
    explicit FaceDecoder(const nlohmann::json& extra);

    // Output tensor names for regressors and score logits.
    const std::array<std::string, 2>& output_names() const { return output_names_; }
    std::array<std::uint8_t, 3> pad_pixel() const { return pad_pixel_; }
    // Detections in original-image pixels, best first.
    std::vector<Detection> operator()(const Tensor& regressors, const Tensor& logits, const Letterbox& box) const;

private:
    std::vector<Anchor> anchors_;
    nlohmann::json decode_spec_;
    std::array<std::string, 2> output_names_{"regressors", "scores"};
    std::array<std::uint8_t, 3> pad_pixel_{0, 0, 0};
    float score_threshold_ = 0.5f;
    double iou_threshold_ = 0.3;
    std::size_t max_detections_ = 100;
};

// Detections as the JSON list fastip's Detection.to_dict writes: box, score, keypoints.
nlohmann::json detections_to_json(const std::vector<Detection>& detections);

}  // namespace fastip

#include "detection.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "error.hpp"

namespace fastip {
namespace {

using nlohmann::json;

double layer_scale(double min_scale, double max_scale, int index, int num_layers) {
    if (num_layers == 1) return (min_scale + max_scale) / 2;
    return min_scale + (max_scale - min_scale) * index / (num_layers - 1);
}

template <typename T>
T value_or(const json& spec, const char* key, T fallback) {
    auto it = spec.find(key);
    return it == spec.end() || it->is_null() ? fallback : it->get<T>();
}

float sigmoid(float x, float clip) {
    if (clip > 0) x = std::clamp(x, -clip, clip);
    const float e = std::exp(-std::fabs(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

double iou(const std::array<float, 4>& a, const std::array<float, 4>& b) {
    const double w = std::max(0.0, std::min<double>(a[2], b[2]) - std::max<double>(a[0], b[0]));
    const double h = std::max(0.0, std::min<double>(a[3], b[3]) - std::max<double>(a[1], b[1]));
    const double inter = w * h;
    const double area_a = std::max(0.0, double(a[2]) - a[0]) * std::max(0.0, double(a[3]) - a[1]);
    const double area_b = std::max(0.0, double(b[2]) - b[0]) * std::max(0.0, double(b[3]) - b[1]);
    const double uni = area_a + area_b - inter;
    return uni > 0 ? inter / uni : 0.0;
}

}  // namespace

std::vector<Anchor> generate_anchors(const json& spec) {
    int num_layers, height, width;
    std::vector<int> strides;
    double offset_x, offset_y, min_scale, max_scale, interpolated;
    std::vector<double> aspect_ratios;
    bool reduce_lowest, fixed;
    try {
        num_layers = spec.at("num_layers").get<int>();
        strides = spec.at("strides").get<std::vector<int>>();
        height = spec.at("input_size").at(0).get<int>();
        width = spec.at("input_size").at(1).get<int>();
        auto offset = value_or<std::vector<double>>(spec, "anchor_offset", {0.5, 0.5});
        if (offset.size() != 2) throw Error("anchor_offset needs two numbers");
        offset_x = offset[0];
        offset_y = offset[1];
        min_scale = value_or(spec, "min_scale", 0.1);
        max_scale = value_or(spec, "max_scale", 0.75);
        aspect_ratios = value_or<std::vector<double>>(spec, "aspect_ratios", {1.0});
        interpolated = value_or(spec, "interpolated_scale_aspect_ratio", 1.0);
        reduce_lowest = value_or(spec, "reduce_boxes_in_lowest_layer", false);
        fixed = value_or(spec, "fixed_anchor_size", true);
    } catch (const json::exception& exc) {
        throw Error(std::string("anchor spec is incomplete or malformed (") + exc.what() + "); it needs num_layers, strides, input_size");
    }
    if (static_cast<int>(strides.size()) != num_layers) throw Error("anchor spec has " + std::to_string(strides.size()) + " strides for " + std::to_string(num_layers) + " layers");
    if (std::any_of(strides.begin(), strides.end(), [](int s) { return s < 1; })) throw Error("anchor strides must be positive");

    std::vector<Anchor> anchors;
    int layer = 0;
    while (layer < num_layers) {
        // consecutive layers with the same stride share one feature map
        std::vector<std::array<double, 2>> sizes;
        int last = layer;
        while (last < num_layers && strides[last] == strides[layer]) {
            const double scale = layer_scale(min_scale, max_scale, last, num_layers);
            if (last == 0 && reduce_lowest) {
                sizes.push_back({0.1, 0.1});
                sizes.push_back({scale * std::sqrt(2.0), scale / std::sqrt(2.0)});
                sizes.push_back({scale * std::sqrt(0.5), scale / std::sqrt(0.5)});
            } else {
                for (double a : aspect_ratios) sizes.push_back({scale * std::sqrt(a), scale / std::sqrt(a)});
                if (interpolated > 0) {
                    const double next = last == num_layers - 1 ? 1.0 : layer_scale(min_scale, max_scale, last + 1, num_layers);
                    const double mid = std::sqrt(scale * next);
                    sizes.push_back({mid * std::sqrt(interpolated), mid / std::sqrt(interpolated)});
                }
            }
            ++last;
        }
        const int stride = strides[layer];
        const int rows = (height + stride - 1) / stride, cols = (width + stride - 1) / stride;
        for (int y = 0; y < rows; ++y) {
            for (int x = 0; x < cols; ++x) {
                const float cx = static_cast<float>((x + offset_x) / cols), cy = static_cast<float>((y + offset_y) / rows);
                for (const auto& s : sizes) {
                    anchors.push_back(fixed ? Anchor{cx, cy, 1.0f, 1.0f} : Anchor{cx, cy, float(s[0]), float(s[1])});
                }
            }
        }
        layer = last;
    }
    auto expected = spec.find("num_anchors");
    if (expected != spec.end() && !expected->is_null() && expected->get<long long>() != static_cast<long long>(anchors.size())) {
        throw Error("anchor spec yields " + std::to_string(anchors.size()) + " anchors, but num_anchors says " + expected->dump());
    }
    return anchors;
}

std::vector<Detection> decode(const Tensor& regressors, const Tensor& logits, const std::vector<Anchor>& anchors, const json& spec) {
    int num_coords, offset, kp_offset, num_kp;
    float xs, ys, ws, hs, clip;
    bool use_sigmoid;
    try {
        num_coords = value_or(spec, "num_coords", 16);
        xs = static_cast<float>(spec.at("x_scale").get<double>());
        ys = static_cast<float>(spec.at("y_scale").get<double>());
        ws = static_cast<float>(spec.at("w_scale").get<double>());
        hs = static_cast<float>(spec.at("h_scale").get<double>());
        offset = value_or(spec, "box_coord_offset", 0);
        kp_offset = value_or(spec, "keypoint_coord_offset", 4);
        num_kp = value_or(spec, "num_keypoints", 0);
        use_sigmoid = value_or(spec, "sigmoid_score", true);
        clip = static_cast<float>(value_or(spec, "score_clipping_thresh", 0.0));
    } catch (const json::exception& exc) {
        throw Error(std::string("decode spec is incomplete (") + exc.what() + "); it needs x_scale, y_scale, w_scale, h_scale");
    }
    const std::size_t n = anchors.size();
    if (num_coords < 1 || regressors.data.size() != n * num_coords || logits.data.size() != n) {
        throw Error("model outputs do not fit " + std::to_string(n) + " anchors with " + std::to_string(num_coords) +
                    " coordinates; is this the model the post-processing spec describes?");
    }
    if (offset < 0 || offset + 4 > num_coords || kp_offset < 0 || num_kp < 0 || kp_offset + 2 * num_kp > num_coords) {
        throw Error("decode spec points outside the " + std::to_string(num_coords) + " regressors per anchor");
    }
    std::vector<Detection> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        const float* r = &regressors.data[i * num_coords];
        const Anchor& a = anchors[i];
        const float cx = r[offset] / xs * a.w + a.x;
        const float cy = r[offset + 1] / ys * a.h + a.y;
        const float w = r[offset + 2] / ws * a.w;
        const float h = r[offset + 3] / hs * a.h;
        out[i].box = {cx - w / 2.0f, cy - h / 2.0f, cx + w / 2.0f, cy + h / 2.0f};
        out[i].keypoints.resize(num_kp);
        for (int k = 0; k < num_kp; ++k) {
            out[i].keypoints[k] = {r[kp_offset + 2 * k] / xs * a.w + a.x, r[kp_offset + 2 * k + 1] / ys * a.h + a.y};
        }
        out[i].score = use_sigmoid ? sigmoid(logits.data[i], clip) : logits.data[i];
    }
    return out;
}

std::vector<Detection> weighted_nms(std::vector<Detection> candidates, double iou_threshold, std::size_t max_detections) {
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(), [](const Detection& d) {
        return !std::isfinite(d.score) || !std::all_of(d.box.begin(), d.box.end(), [](float v) { return std::isfinite(v); });
    }), candidates.end());
    std::stable_sort(candidates.begin(), candidates.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
    std::vector<Detection> kept;
    std::vector<bool> used(candidates.size(), false);
    for (std::size_t best = 0; best < candidates.size() && kept.size() < max_detections; ++best) {
        if (used[best]) continue;
        std::vector<std::size_t> cluster;
        for (std::size_t j = best; j < candidates.size(); ++j) {
            if (!used[j] && iou(candidates[best].box, candidates[j].box) > iou_threshold) cluster.push_back(j);
        }
        if (cluster.empty()) cluster.push_back(best);  // a degenerate box still stands for itself
        double total = 0.0;
        for (auto j : cluster) total += candidates[j].score;
        const std::size_t num_kp = candidates[best].keypoints.size();
        std::array<double, 4> box{0, 0, 0, 0};
        std::vector<std::array<double, 2>> points(num_kp, {0.0, 0.0});
        for (auto j : cluster) {
            const double w = total > 0 ? candidates[j].score / total : 1.0 / cluster.size();
            for (int c = 0; c < 4; ++c) box[c] += w * candidates[j].box[c];
            for (std::size_t k = 0; k < num_kp; ++k) {
                points[k][0] += w * candidates[j].keypoints[k][0];
                points[k][1] += w * candidates[j].keypoints[k][1];
            }
            used[j] = true;
        }
        used[best] = true;
        Detection d{{float(box[0]), float(box[1]), float(box[2]), float(box[3])}, candidates[best].score, {}};
        for (const auto& p : points) d.keypoints.push_back({float(p[0]), float(p[1])});
        kept.push_back(std::move(d));
    }
    return kept;
}

FaceDecoder::FaceDecoder(const json& extra) {
    if (!extra.contains("anchors") || !extra.contains("decode")) {
        throw Error("the post-processing spec (io.extra) lacks 'anchors' or 'decode'; re-export the model with a current fastip");
    }
    anchors_ = generate_anchors(extra.at("anchors"));
    decode_spec_ = extra.at("decode");
    try {
        if (extra.contains("outputs")) {
            auto names = extra.at("outputs").get<std::vector<std::string>>();
            if (names.size() != 2) throw Error("io.extra.outputs must name the regressor and score outputs");
            output_names_ = {names[0], names[1]};
        }
        score_threshold_ = static_cast<float>(value_or(decode_spec_, "min_score_thresh", 0.5));
        const json nms = extra.value("nms", json::object());
        iou_threshold_ = value_or(nms, "min_suppression_threshold", 0.3);
        const long long max_det = value_or(nms, "max_detections", 100LL);
        if (max_det < 1) throw Error("nms.max_detections must be positive");
        max_detections_ = static_cast<std::size_t>(max_det);
        const json lb = extra.value("letterbox", json::object());
        auto pad = value_or<std::vector<int>>(lb, "pad_pixel", {0, 0, 0});
        if (pad.size() != 3) throw Error("letterbox.pad_pixel needs three values");
        for (int c = 0; c < 3; ++c) pad_pixel_[c] = static_cast<std::uint8_t>(std::clamp(pad[c], 0, 255));
    } catch (const json::exception& exc) {
        throw Error(std::string("malformed post-processing spec in io.extra: ") + exc.what());
    }
    if (!(score_threshold_ >= 0 && score_threshold_ <= 1) || !(iou_threshold_ >= 0 && iou_threshold_ <= 1)) {
        throw Error("score and IoU thresholds in io.extra must lie in [0, 1]");
    }
}

std::vector<Detection> FaceDecoder::operator()(const Tensor& regressors, const Tensor& logits, const Letterbox& box) const {
    std::vector<Detection> candidates = decode(regressors, logits, anchors_, decode_spec_);
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                    [&](const Detection& d) { return !(d.score >= score_threshold_); }), candidates.end());
    std::vector<Detection> result;
    const float w = static_cast<float>(box.image_width), h = static_cast<float>(box.image_height);
    for (Detection d : weighted_nms(std::move(candidates), iou_threshold_, max_detections_)) {
        d.box = {std::clamp(box.to_image_x(d.box[0]), 0.0f, w), std::clamp(box.to_image_y(d.box[1]), 0.0f, h),
                 std::clamp(box.to_image_x(d.box[2]), 0.0f, w), std::clamp(box.to_image_y(d.box[3]), 0.0f, h)};
        for (auto& p : d.keypoints) p = {box.to_image_x(p[0]), box.to_image_y(p[1])};
        d.score = std::clamp(d.score, 0.0f, 1.0f);
        if (d.box[2] > d.box[0] && d.box[3] > d.box[1]) result.push_back(std::move(d));
    }
    return result;
}

json detections_to_json(const std::vector<Detection>& detections) {
    json out = json::array();
    for (const auto& d : detections) {
        json points = json::array();
        for (const auto& p : d.keypoints) points.push_back({p[0], p[1]});
        out.push_back({{"box", {d.box[0], d.box[1], d.box[2], d.box[3]}}, {"score", d.score}, {"keypoints", points}});
    }
    return out;
}

}  // namespace fastip

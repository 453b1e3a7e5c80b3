#include "pipeline.hpp"

#include <algorithm>
#include <cmath>

#include "error.hpp"
#include "preprocess.hpp"

namespace fastip {
namespace {

void check_input(const Manifest& m) {
    const TensorSpec& in = m.inputs.front();
    if (in.dtype != "float32") throw Error("the host feeds float32, but input '" + in.name + "' is " + in.dtype);
    if (in.layout != "NCHW" || in.shape.size() != 4) throw Error("the host feeds NCHW images, but input '" + in.name + "' is " + in.layout);
    if (auto channels = std::get_if<long long>(&in.shape[1]); !channels || *channels != 3) {
        throw Error("the host feeds 3-channel images, but input '" + in.name + "' does not take 3 channels");
    }
}

}  // namespace

Pipeline::Pipeline(const Bundle& bundle, const RunnerOptions& options)
    : manifest_(bundle.manifest()), runner_(bundle, options) {
    check_input(manifest_);
    if (manifest_.io.output == "detections") {
        if (!manifest_.io.input_size) throw Error("a detector's manifest needs io.input_size");
        decoder_ = std::make_unique<FaceDecoder>(manifest_.io.extra);
    }
}

Tensor Pipeline::preprocess(const Image& image, Letterbox& box) const {
    const ImageIO& io = manifest_.io;
    if (decoder_) {
        const auto [h, w] = *io.input_size;
        return to_tensor(letterbox(image, h, w, decoder_->pad_pixel(), box), io);
    }
    const long long m = io.size_multiple;
    const long long padded = (image.height + m - 1) / m * m * ((image.width + m - 1) / m * m);
    if (padded > kMaxPipelinePixels) {
        throw Error("image is " + std::to_string(image.width) + "x" + std::to_string(image.height) + " (" +
                    std::to_string(padded / 1000000) + " MP padded), above the 64 MP limit; downscale it or run it "
                    "tiled with `fastip run --tile 512`");
    }
    return to_tensor(pad_to_multiple(image, io.size_multiple), io);
}

std::vector<Tensor> Pipeline::infer(const Tensor& input) {
    auto named = runner_.run(input);
    std::vector<Tensor> outputs;
    for (const auto& spec : manifest_.outputs) outputs.push_back(std::move(named.at(spec.name)));
    return outputs;
}

PipelineResult Pipeline::operator()(const Image& image) {
    PipelineResult result;
    Letterbox box;
    result.input = preprocess(image, box);
    result.outputs = infer(result.input);
    if (decoder_) {
        const auto& names = decoder_->output_names();
        const Tensor* regressors = nullptr;
        const Tensor* logits = nullptr;
        for (std::size_t i = 0; i < manifest_.outputs.size(); ++i) {
            if (manifest_.outputs[i].name == names[0]) regressors = &result.outputs[i];
            if (manifest_.outputs[i].name == names[1]) logits = &result.outputs[i];
        }
        if (!regressors || !logits) throw Error("the manifest has no outputs named '" + names[0] + "' and '" + names[1] + "' as io.extra.outputs says");
        result.detections = (*decoder_)(*regressors, *logits, box);
    } else {
        const int s = manifest_.io.scale_factor;
        result.image = crop(to_image(result.outputs.front(), manifest_.io), image.width * s, image.height * s);
    }
    return result;
}

Image draw_detections(const Image& image, const std::vector<Detection>& detections) {
    Image out = image;
    const int line = std::max(1, std::min(image.width, image.height) / 200);
    auto paint = [&](int x, int y, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
        if (x < 0 || y < 0 || x >= out.width || y >= out.height) return;
        std::uint8_t* p = out.at(x, y);
        p[0] = r; p[1] = g; p[2] = b;
    };
    for (const auto& d : detections) {
        const int x0 = int(std::lround(d.box[0])), y0 = int(std::lround(d.box[1]));
        const int x1 = int(std::lround(d.box[2])), y1 = int(std::lround(d.box[3]));
        for (int t = 0; t < line; ++t) {
            for (int x = x0; x <= x1; ++x) { paint(x, y0 + t, 0, 255, 0); paint(x, y1 - t, 0, 255, 0); }
            for (int y = y0; y <= y1; ++y) { paint(x0 + t, y, 0, 255, 0); paint(x1 - t, y, 0, 255, 0); }
        }
        const int radius = line + 1;
        for (const auto& p : d.keypoints) {
            const int cx = int(std::lround(p[0])), cy = int(std::lround(p[1]));
            for (int dy = -radius; dy <= radius; ++dy) {
                for (int dx = -radius; dx <= radius; ++dx) {
                    if (dx * dx + dy * dy <= radius * radius) paint(cx + dx, cy + dy, 255, 0, 0);
                }
            }
        }
    }
    return out;
}

}  // namespace fastip

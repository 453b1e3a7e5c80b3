// fastip_host: run a fastip bundle (model + fastip.json) on an image, with no Python at run time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bundle.hpp"
#include "error.hpp"
#include "image.hpp"
#include "pipeline.hpp"

namespace {

const char* kUsage =
    "usage: fastip_host BUNDLE INPUT [OUTPUT] [options]\n"
    "\n"
    "Run a fastip bundle on an image. Image models write OUTPUT (.ppm, or .png when built with libpng);\n"
    "detectors write their detections as JSON (--boxes, else stdout) and OUTPUT with the boxes drawn.\n"
    "\n"
    "options:\n"
    "  --boxes FILE       detectors: write the detections as JSON to FILE\n"
    "  --raw FILE         write the model's float32 outputs (raw, native byte order, manifest order)\n"
    "  --raw-input FILE   write the preprocessed float32 input tensor\n"
    "  --precision P      fp32 (default), int8 or fp16: which exported artifact to run\n"
    "  --artifact ROLE    run this artifact role instead (openvino, onnx, openvino_int8, onnx_int8, ...)\n"
    "  --threads N        inference threads (default: OpenVINO's choice)\n"
    "  --repeat N         time N more inferences after the first and print the median\n"
    "  -h, --help         show this help\n";

struct Args {
    std::string bundle, input, output, boxes, raw, raw_input;
    fastip::RunnerOptions runner;
    int repeat = 0;
};

int to_int(const std::string& flag, const std::string& value) {
    try {
        std::size_t used = 0;
        int n = std::stoi(value, &used);
        if (used == value.size() && n >= 0) return n;
    } catch (const std::exception&) {
    }
    throw fastip::Error(flag + " needs a non-negative integer, not '" + value + "'");
}

Args parse_args(int argc, char** argv) {
    Args args;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw fastip::Error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "-h" || arg == "--help") {
            std::cout << kUsage;
            std::exit(0);
        } else if (arg == "--boxes") args.boxes = value();
        else if (arg == "--raw") args.raw = value();
        else if (arg == "--raw-input") args.raw_input = value();
        else if (arg == "--precision") args.runner.precision = value();
        else if (arg == "--artifact") args.runner.role = value();
        else if (arg == "--threads") args.runner.threads = to_int(arg, value());
        else if (arg == "--repeat") args.repeat = to_int(arg, value());
        else if (arg.size() > 1 && arg[0] == '-') throw fastip::Error("unknown option " + arg + "; see --help");
        else positional.push_back(arg);
    }
    if (positional.size() < 2 || positional.size() > 3) throw fastip::Error("expected BUNDLE INPUT [OUTPUT]; see --help");
    args.bundle = positional[0];
    args.input = positional[1];
    if (positional.size() == 3) args.output = positional[2];
    return args;
}

void write_floats(const std::string& path, const std::vector<const fastip::Tensor*>& tensors) {
    std::ofstream out(path, std::ios::binary);
    for (const auto* t : tensors) {
        out.write(reinterpret_cast<const char*>(t->data.data()), static_cast<std::streamsize>(t->data.size() * sizeof(float)));
    }
    if (!out) throw fastip::Error("cannot write " + path);
}

std::string shape_text(const fastip::Tensor& t) {
    std::string s;
    for (auto d : t.shape) s += (s.empty() ? "" : "x") + std::to_string(d);
    return s;
}

int run(const Args& args) {
    const fastip::Bundle bundle = fastip::Bundle::load(args.bundle);
    fastip::Pipeline pipeline(bundle, args.runner);
    if (!pipeline.is_detector() && args.output.empty() && args.raw.empty()) {
        throw fastip::Error(bundle.manifest().model + " outputs an image: give OUTPUT (or --raw FILE)");
    }
    if (pipeline.is_detector() && !args.output.empty() && args.boxes.empty()) {
        // an OUTPUT image for a detector is the drawing; the detections still go somewhere
    }
    const fastip::Image image = fastip::read_image(args.input);
    const auto start = std::chrono::steady_clock::now();
    const fastip::PipelineResult result = pipeline(image);
    const double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    if (!args.raw_input.empty()) write_floats(args.raw_input, {&result.input});
    if (!args.raw.empty()) {
        std::vector<const fastip::Tensor*> outputs;
        for (const auto& t : result.outputs) outputs.push_back(&t);
        write_floats(args.raw, outputs);
    }
    if (pipeline.is_detector()) {
        const std::string text = fastip::detections_to_json(result.detections).dump(2) + "\n";
        if (!args.boxes.empty()) {
            std::ofstream out(args.boxes);
            out << text;
            if (!out) throw fastip::Error("cannot write " + args.boxes);
        } else if (args.output.empty()) {
            std::cout << text;
        }
        if (!args.output.empty()) fastip::write_image(args.output, fastip::draw_detections(image, result.detections));
        std::cerr << result.detections.size() << " detections in " << args.input;
    } else {
        if (!args.output.empty()) fastip::write_image(args.output, result.image);
        std::cerr << (args.output.empty() ? args.raw : args.output) << ": " << result.image.width << "x" << result.image.height
                  << " from " << args.input;
    }
    std::cerr << " (" << bundle.manifest().model << ", " << pipeline.runner().role() << ", input " << shape_text(result.input)
              << ", first run " << first_ms << " ms)\n";

    if (args.repeat > 0) {
        std::vector<double> times;
        for (int i = 0; i < args.repeat; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            pipeline.infer(result.input);
            times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(times.begin(), times.end());
        const double median = times.size() % 2 ? times[times.size() / 2] : (times[times.size() / 2 - 1] + times[times.size() / 2]) / 2;
        std::printf("inference %s: median %.2f ms, min %.2f ms over %d runs\n", shape_text(result.input).c_str(), median,
                    times.front(), args.repeat);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse_args(argc, argv));
    } catch (const fastip::Error& exc) {
        std::cerr << "fastip_host: error: " << exc.what() << "\n";
        return 2;
    } catch (const std::exception& exc) {
        std::cerr << "fastip_host: unexpected error: " << exc.what() << "\n";
        return 1;
    }
}

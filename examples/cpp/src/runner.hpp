// Runs a bundle's model (ONNX or OpenVINO IR) on the OpenVINO CPU plugin, tensors in, tensors out.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bundle.hpp"
#include "tensor.hpp"

namespace fastip {

struct RunnerOptions {
    std::string precision = "fp32";  // which artifact: fp32 -> openvino or onnx, int8 -> openvino_int8 or onnx_int8
    std::string role;                // an explicit artifact role overrides `precision`
    int threads = 0;                 // 0: OpenVINO's choice
    std::string device = "CPU";
};

class Runner {
public:
    Runner(const Bundle& bundle, const RunnerOptions& options);
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    // The artifact role and file this runner loaded.
    const std::string& role() const { return role_; }
    const std::string& model_path() const { return path_; }
    // Run on the first input; returns every output by the manifest's output names.
    std::map<std::string, Tensor> run(const Tensor& input);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string role_;
    std::string path_;
};

}  // namespace fastip

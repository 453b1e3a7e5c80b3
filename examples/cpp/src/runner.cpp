#include "runner.hpp"

#include <openvino/openvino.hpp>

#include "error.hpp"

namespace fastip {

struct Runner::Impl {
    std::string weights;  // an IR's checked .bin: the compiled model may share it, so it is destroyed last
    ov::Core core;
    ov::CompiledModel compiled;
    ov::InferRequest request;
    std::string input_name;
    std::vector<std::string> output_names;  // manifest names, in manifest order
    std::vector<bool> by_name;              // whether the model knows that name (else: the output at that index)
};

Runner::Runner(const Bundle& bundle, const RunnerOptions& options) : impl_(std::make_unique<Impl>()) {
    const Manifest& m = bundle.manifest();
    role_ = options.role.empty() ? bundle.role_for(options.precision) : options.role;
    Bundle::ModelBytes bytes = bundle.verified_model(role_);
    path_ = bytes.path;
    ov::AnyMap config{{ov::hint::performance_mode.name(), ov::hint::PerformanceMode::LATENCY},
                      // keep FP32 exact on CPUs that would otherwise pick a lower inference precision
                      {ov::hint::inference_precision.name(), ov::element::f32}};
    if (options.threads > 0) config[ov::inference_num_threads.name()] = options.threads;
    try {
        ov::Tensor weights;
        if (!bytes.weights.empty()) {
            impl_->weights = std::move(bytes.weights);
            weights = ov::Tensor(ov::element::u8, ov::Shape{impl_->weights.size()}, impl_->weights.data());
        }
        impl_->compiled = impl_->core.compile_model(impl_->core.read_model(bytes.model, weights), options.device, config);
        impl_->request = impl_->compiled.create_infer_request();
    } catch (const ov::Exception& exc) {
        throw Error("OpenVINO cannot load " + path_ + ": " + exc.what());
    }
    impl_->input_name = m.inputs.front().name;
    try {
        impl_->compiled.input(impl_->input_name);
    } catch (const ov::Exception&) {
        throw Error("the model in " + path_ + " has no input named '" + impl_->input_name + "' as the manifest says");
    }
    const auto outputs = impl_->compiled.outputs();
    if (outputs.size() != m.outputs.size()) {
        throw Error("the model in " + path_ + " has " + std::to_string(outputs.size()) + " outputs, the manifest lists " +
                    std::to_string(m.outputs.size()));
    }
    // Outputs by name when the model keeps the manifest's names, else in order (as fastip's Python session does).
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        std::string name = m.outputs[i].name;
        bool found = false;
        for (const auto& port : outputs) found = found || port.get_names().count(name);
        impl_->output_names.push_back(name);
        impl_->by_name.push_back(found);
    }
}

Runner::~Runner() = default;

std::map<std::string, Tensor> Runner::run(const Tensor& input) {
    ov::Shape shape(input.shape.begin(), input.shape.end());
    // OpenVINO reads the caller's buffer in place; it is not written to.
    ov::Tensor in(ov::element::f32, shape, const_cast<float*>(input.data.data()));
    std::map<std::string, Tensor> result;
    try {
        impl_->request.set_tensor(impl_->input_name, in);
        impl_->request.infer();
        for (std::size_t i = 0; i < impl_->output_names.size(); ++i) {
            const std::string& name = impl_->output_names[i];
            ov::Tensor out = impl_->by_name[i] ? impl_->request.get_tensor(name) : impl_->request.get_output_tensor(i);
            if (out.get_element_type() != ov::element::f32) throw Error("output " + std::to_string(i) + " is not float32");
            Tensor t;
            for (auto d : out.get_shape()) t.shape.push_back(static_cast<std::int64_t>(d));
            const float* data = out.data<const float>();
            t.data.assign(data, data + out.get_size());
            result[name] = std::move(t);
        }
    } catch (const ov::Exception& exc) {
        throw Error(std::string("inference failed: ") + exc.what());
    }
    return result;
}

}  // namespace fastip

// A fastip bundle read from its manifest (fastip.json): typed I/O spec, artifacts and their sha256s.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace fastip {

// A shape dimension is a fixed size or the name of a dynamic axis ("N", "H", "W").
using Dim = std::variant<long long, std::string>;

struct TensorSpec {
    std::string name;
    std::vector<Dim> shape;
    std::string dtype;
    std::string layout;
};

// How a uint8 RGB image becomes the input tensor and how an output becomes an image (see fastip/spec.py).
struct ImageIO {
    std::string colour_order = "RGB";
    std::array<double, 2> value_range{0.0, 1.0};
    std::array<double, 3> mean{0.0, 0.0, 0.0};
    std::array<double, 3> std{1.0, 1.0, 1.0};
    int scale_factor = 1;
    std::string output = "image";            // "image" or "detections"
    std::optional<std::array<int, 2>> input_size;  // (height, width) for fixed-size models
    int size_multiple = 1;
    nlohmann::json extra = nlohmann::json::object();  // family post-processing spec
};

struct Manifest {
    int schema_version = 0;
    std::string model;
    std::string family;
    std::string precision;
    ImageIO io;
    std::vector<TensorSpec> inputs;
    std::vector<TensorSpec> outputs;
    std::map<std::string, std::string> artifacts;  // role -> file name
    std::map<std::string, std::string> files;      // file name -> sha256 hex
};

constexpr int kSchemaVersion = 1;
constexpr const char* kManifestName = "fastip.json";

// Parse manifest text; throws fastip::Error naming the first malformed field.
Manifest parse_manifest(const std::string& text);

class Bundle {
public:
    // Read and check `dir/fastip.json` (or a path to the manifest itself).
    static Bundle load(const std::string& path);

    const std::string& root() const { return root_; }
    const Manifest& manifest() const { return manifest_; }

    // The artifact role a host runs for this precision: the OpenVINO IR when present, else the ONNX file.
    std::string role_for(const std::string& precision) const;
    // A role's model as the bytes whose sha256 was checked (an IR's .xml with its .bin, or an ONNX file):
    // what OpenVINO loads, so a file swapped after the check changes nothing. `path` names it in messages.
    struct ModelBytes {
        std::string path;
        std::string model;
        std::string weights;
    };
    ModelBytes verified_model(const std::string& role) const;

private:
    Bundle(std::string root, Manifest manifest) : root_(std::move(root)), manifest_(std::move(manifest)) {}
    std::string read_listed(const std::string& name) const;

    std::string root_;
    Manifest manifest_;
};

}  // namespace fastip

#include "bundle.hpp"

#include <algorithm>
#include <set>
#include <sys/stat.h>

#include "error.hpp"
#include "members.hpp"

namespace fastip {
namespace {

using nlohmann::json;

const std::vector<std::string> kRoles = {"onnx", "onnx_int8", "onnx_fp16", "openvino", "openvino_int8", "engine", "torch"};
const std::vector<std::string> kPrecisions = {"fp32", "fp16", "int8"};

bool is_dir(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// Python's json module writes Infinity/-Infinity/NaN (e.g. a PSNR of identical outputs); JSON has no such
// tokens, so they become null outside strings before parsing. No field the host reads can hold them.
std::string replace_non_finite(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < text.size()) out += text[++i];
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        bool replaced = false;
        for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
            std::size_t n = std::char_traits<char>::length(token);
            if (text.compare(i, n, token) == 0) {
                out += "null";
                i += n - 1;
                replaced = true;
                break;
            }
        }
        if (!replaced) out += c;
    }
    return out;
}

[[noreturn]] void malformed(const std::string& what) { throw Error("malformed manifest: " + what); }

const json& field(const json& object, const char* key, json::value_t kind, const char* kind_name) {
    auto it = object.find(key);
    if (it == object.end()) malformed(std::string("missing key '") + key + "'");
    bool ok = it->type() == kind || (kind == json::value_t::number_float && it->is_number()) ||
              (kind == json::value_t::number_integer && it->is_number_unsigned());
    if (!ok) malformed(std::string("'") + key + "' must be " + kind_name);
    return *it;
}

void check_member_name(const std::string& name) {
    if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
        name == "." || name == ".." || name[0] == '.') {
        malformed("'" + name + "' is not a plain file name inside the bundle");
    }
}

template <std::size_t N>
std::array<double, N> numbers(const json& value, const char* key) {
    if (!value.is_array() || value.size() != N) malformed(std::string("io.") + key + " needs " + std::to_string(N) + " numbers");
    std::array<double, N> out{};
    for (std::size_t i = 0; i < N; ++i) {
        if (!value[i].is_number()) malformed(std::string("io.") + key + " needs numbers");
        out[i] = value[i].get<double>();
    }
    return out;
}

ImageIO parse_io(const json& data) {
    static const std::set<std::string> known = {"colour_order", "value_range", "mean", "std", "scale_factor", "output",
                                                "input_size", "size_multiple", "extra"};
    for (const auto& item : data.items()) {
        if (!known.count(item.key())) malformed("unknown pre/post-processing key '" + item.key() + "'");
    }
    ImageIO io;
    if (data.contains("colour_order")) io.colour_order = data.at("colour_order").get<std::string>();
    if (data.contains("value_range")) io.value_range = numbers<2>(data.at("value_range"), "value_range");
    if (data.contains("mean")) io.mean = numbers<3>(data.at("mean"), "mean");
    if (data.contains("std")) io.std = numbers<3>(data.at("std"), "std");
    if (data.contains("scale_factor")) io.scale_factor = data.at("scale_factor").get<int>();
    if (data.contains("output")) io.output = data.at("output").get<std::string>();
    if (data.contains("input_size") && !data.at("input_size").is_null()) {
        auto size = numbers<2>(data.at("input_size"), "input_size");
        io.input_size = std::array<int, 2>{int(size[0]), int(size[1])};
        if ((*io.input_size)[0] < 1 || (*io.input_size)[1] < 1) malformed("io.input_size must be positive");
    }
    if (data.contains("size_multiple")) io.size_multiple = data.at("size_multiple").get<int>();
    if (data.contains("extra")) io.extra = data.at("extra");

    if (io.colour_order != "RGB" && io.colour_order != "BGR") malformed("io.colour_order must be RGB or BGR, not " + io.colour_order);
    if (!(io.value_range[0] < io.value_range[1])) malformed("io.value_range must be (low, high) with low < high");
    if (*std::min_element(io.std.begin(), io.std.end()) <= 0) malformed("io.std must be positive");
    if (io.scale_factor < 1) malformed("io.scale_factor must be a positive integer");
    if (io.output != "image" && io.output != "detections") malformed("io.output must be 'image' or 'detections', not '" + io.output + "'");
    if (io.size_multiple < 1) malformed("io.size_multiple must be >= 1");
    if (!io.extra.is_object()) malformed("io.extra must be an object");
    return io;
}

TensorSpec parse_tensor(const json& data) {
    if (!data.is_object()) malformed("inputs and outputs must be objects");
    TensorSpec spec;
    spec.name = field(data, "name", json::value_t::string, "a string").get<std::string>();
    spec.dtype = field(data, "dtype", json::value_t::string, "a string").get<std::string>();
    spec.layout = field(data, "layout", json::value_t::string, "a string").get<std::string>();
    for (const auto& dim : field(data, "shape", json::value_t::array, "a list")) {
        if (dim.is_number_integer()) spec.shape.emplace_back(dim.get<long long>());
        else if (dim.is_string()) spec.shape.emplace_back(dim.get<std::string>());
        else malformed("tensor '" + spec.name + "' has a shape dimension that is neither a size nor a name");
    }
    return spec;
}

}  // namespace

Manifest parse_manifest(const std::string& text) {
    json data;
    try {
        data = json::parse(replace_non_finite(text));
    } catch (const json::parse_error& exc) {
        throw Error(std::string("manifest is not valid JSON: ") + exc.what());
    }
    if (!data.is_object()) malformed("the top level must be a JSON object");
    static const std::set<std::string> known = {"schema_version", "model", "family", "precision", "io", "inputs", "outputs",
                                                "artifacts", "files", "source", "validation", "calibration", "versions", "extra",
                                                "untrained"};
    for (const auto& item : data.items()) {
        if (!known.count(item.key())) malformed("unknown key '" + item.key() + "'");
    }
    try {
        Manifest m;
        m.schema_version = field(data, "schema_version", json::value_t::number_integer, "an integer").get<int>();
        if (m.schema_version > kSchemaVersion) {
            throw Error("manifest schema " + std::to_string(m.schema_version) + " is newer than this host (" +
                        std::to_string(kSchemaVersion) + "); rebuild the host from a current fastip");
        }
        m.model = field(data, "model", json::value_t::string, "a string").get<std::string>();
        m.family = field(data, "family", json::value_t::string, "a string").get<std::string>();
        m.precision = field(data, "precision", json::value_t::string, "a string").get<std::string>();
        if (std::find(kPrecisions.begin(), kPrecisions.end(), m.precision) == kPrecisions.end()) {
            malformed("precision '" + m.precision + "' is not fp32, fp16 or int8");
        }
        m.io = parse_io(field(data, "io", json::value_t::object, "an object"));
        for (const auto& t : field(data, "inputs", json::value_t::array, "a list")) m.inputs.push_back(parse_tensor(t));
        for (const auto& t : field(data, "outputs", json::value_t::array, "a list")) m.outputs.push_back(parse_tensor(t));
        if (m.inputs.empty() || m.outputs.empty()) malformed("a model needs at least one input and one output");
        for (const auto& item : field(data, "artifacts", json::value_t::object, "an object").items()) {
            if (std::find(kRoles.begin(), kRoles.end(), item.key()) == kRoles.end()) malformed("unknown artifact role '" + item.key() + "'");
            if (!item.value().is_string()) malformed("artifact '" + item.key() + "' must name a file");
            check_member_name(item.value().get<std::string>());
            m.artifacts[item.key()] = item.value().get<std::string>();
        }
        for (const auto& item : field(data, "files", json::value_t::object, "an object").items()) {
            check_member_name(item.key());
            const auto& digest = item.value();
            if (!digest.is_string() || digest.get<std::string>().size() != 64 ||
                digest.get<std::string>().find_first_not_of("0123456789abcdef") != std::string::npos) {
                malformed("sha256 of '" + item.key() + "' is not 64 lowercase hex digits");
            }
            m.files[item.key()] = digest.get<std::string>();
        }
        for (const auto& [role, name] : m.artifacts) {
            if (!m.files.count(name)) malformed("artifact '" + role + "' (" + name + ") has no sha256 in 'files'");
        }
        return m;
    } catch (const json::exception& exc) {  // a value of the wrong JSON type deeper down
        malformed(exc.what());
    }
}

Bundle Bundle::load(const std::string& path) {
    std::string root = path;
    const std::string suffix = std::string("/") + kManifestName;
    if (root.size() >= suffix.size() && root.compare(root.size() - suffix.size(), suffix.size(), suffix) == 0) {
        root = root.substr(0, root.size() - suffix.size());
    }
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (!is_dir(root)) throw Error("bundle not found: " + root + " is not a directory; create one with `fastip-export`");
    std::string manifest_path = root + "/" + kManifestName;
    struct stat info {};
    if (::lstat(manifest_path.c_str(), &info) != 0) throw Error(root + " is not a fastip bundle: it has no " + kManifestName);
    std::string text = read_member(root, kManifestName, "");
    try {
        return Bundle(root, parse_manifest(text));
    } catch (const Error& exc) {
        throw Error(manifest_path + ": " + exc.what());
    }
}

std::string Bundle::role_for(const std::string& precision) const {
    std::vector<std::string> roles;
    if (precision == "fp32") roles = {"openvino", "onnx"};
    else if (precision == "int8") roles = {"openvino_int8", "onnx_int8"};
    else if (precision == "fp16") roles = {"onnx_fp16"};
    else throw Error("precision must be fp32, fp16 or int8, not '" + precision + "'");
    for (const auto& role : roles) {
        if (manifest_.artifacts.count(role)) return role;
    }
    std::string have;
    for (const auto& item : manifest_.artifacts) have += (have.empty() ? "" : ", ") + item.first;
    throw Error("bundle " + root_ + " has no " + precision + " artifact OpenVINO can run (it has: " +
                (have.empty() ? "none" : have) + "); export it with --precision " + precision);
}

std::string Bundle::read_listed(const std::string& name) const {
    auto expected = manifest_.files.find(name);
    if (expected == manifest_.files.end()) throw Error("bundle file " + name + " has no sha256 in " + kManifestName + "; re-export the bundle");
    return read_member(root_, name, expected->second);
}

Bundle::ModelBytes Bundle::verified_model(const std::string& role) const {
    auto it = manifest_.artifacts.find(role);
    if (it == manifest_.artifacts.end()) throw Error("bundle " + root_ + " has no '" + role + "' artifact");
    const std::string& name = it->second;
    if (role == "engine" || role == "torch") throw Error("artifact '" + role + "' cannot run on OpenVINO; use onnx or openvino");
    ModelBytes bytes{root_ + "/" + name, read_listed(name), ""};
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".xml") == 0) {
        bytes.weights = read_listed(name.substr(0, name.size() - 4) + ".bin");
    } else {
        refuse_onnx_file_references(bytes.model, bytes.path);
    }
    return bytes;
}

}  // namespace fastip

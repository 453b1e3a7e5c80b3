// Reading bundle members safely: regular files directly in the bundle, never through a link, hash-checked bytes.
#pragma once

#include <string>

namespace fastip {

// The bytes of `root/name`, read once through a descriptor opened inside `root` without following links;
// refused unless the member is a regular file with one link. When `sha256` is not empty the bytes must match it.
std::string read_member(const std::string& root, const std::string& name, const std::string& sha256);

// Throws fastip::Error when an ONNX model stores any tensor as external data (in the graph, subgraphs, sparse
// tensors, attribute lists, functions or training graphs) or has nodes that make a runtime open files (EPContext).
// The host loads ONNX from memory, where OpenVINO would resolve external data against the working directory.
void refuse_onnx_file_references(const std::string& onnx, const std::string& label);

}  // namespace fastip

#include "members.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "error.hpp"
#include "sha256.hpp"

namespace fastip {

namespace {

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { if (fd_ >= 0) ::close(fd_); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

std::string read_member(const std::string& root, const std::string& name, const std::string& sha256) {
    const std::string path = root + "/" + name;
    Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) throw Error("cannot open bundle directory " + root + ": " + std::strerror(errno));
    Fd fd(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
        int err = errno;
        if (err == ENOENT) throw Error("bundle " + root + " is missing " + name + "; re-export it");
        if (err == ELOOP) throw Error("bundle member " + path + " is a symbolic link; a bundle holds plain files only");
        throw Error("cannot read bundle member " + path + ": " + std::strerror(err));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        throw Error("bundle member " + path + " is not a regular file; refusing to read it");
    }
    if (info.st_nlink > 1) {
        throw Error("bundle member " + path + " has " + std::to_string(info.st_nlink) +
                    " hard links; a bundle member must be its own file");
    }
    std::string data;
    data.reserve(static_cast<std::size_t>(info.st_size));
    std::vector<char> buffer(1 << 16);
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error("read error in " + path + ": " + std::strerror(errno));
        }
        data.append(buffer.data(), static_cast<std::size_t>(n));
    }
    if (!sha256.empty()) {
        Sha256 hash;
        hash.update(data.data(), data.size());
        if (hash.hex_digest() != sha256) {
            throw Error("bundle file " + path + " does not match its sha256 in fastip.json: it was modified or corrupted; "
                        "re-export it");
        }
    }
    return data;
}

namespace {

// The ONNX messages that can hold tensors, and which of their fields lead to more of them (onnx.proto numbers).
enum class Kind { Model, Training, Graph, Function, Node, Attribute, Sparse, Tensor, Other };

Kind child(Kind parent, std::uint64_t field) {
    switch (parent) {
        case Kind::Model: return field == 7 ? Kind::Graph : field == 25 ? Kind::Function : field == 20 ? Kind::Training : Kind::Other;
        case Kind::Training: return field == 1 || field == 2 ? Kind::Graph : Kind::Other;
        case Kind::Graph: return field == 1 ? Kind::Node : field == 5 ? Kind::Tensor : field == 15 ? Kind::Sparse : Kind::Other;
        case Kind::Function: return field == 7 ? Kind::Node : field == 11 ? Kind::Attribute : Kind::Other;
        case Kind::Node: return field == 5 ? Kind::Attribute : Kind::Other;
        case Kind::Attribute:
            if (field == 5 || field == 10) return Kind::Tensor;
            if (field == 6 || field == 11) return Kind::Graph;
            return field == 22 || field == 23 ? Kind::Sparse : Kind::Other;
        case Kind::Sparse: return field == 1 || field == 2 ? Kind::Tensor : Kind::Other;
        default: return Kind::Other;
    }
}

struct Scan {
    const std::string& label;
    [[noreturn]] void bad(const std::string& what) const { throw Error(label + ": " + what + "; refusing to load it"); }

    std::uint64_t varint(const unsigned char*& p, const unsigned char* end) const {
        std::uint64_t value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p >= end) bad("is not a readable ONNX model (truncated varint)");
            unsigned char byte = *p++;
            value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if (!(byte & 0x80)) return value;
        }
        bad("is not a readable ONNX model (overlong varint)");
    }

    void message(const unsigned char* p, const unsigned char* end, Kind kind, int depth) const {
        if (depth > 512) bad("nests subgraphs too deeply");
        while (p < end) {
            std::uint64_t key = varint(p, end);
            std::uint64_t field = key >> 3;
            switch (key & 7) {
                case 0: {
                    std::uint64_t value = varint(p, end);
                    if (kind == Kind::Tensor && field == 14 && value == 1) bad("stores a tensor as external data");
                    break;
                }
                case 1: if (end - p < 8) bad("is not a readable ONNX model"); p += 8; break;
                case 5: if (end - p < 4) bad("is not a readable ONNX model"); p += 4; break;
                case 2: {
                    std::uint64_t size = varint(p, end);
                    if (size > static_cast<std::uint64_t>(end - p)) bad("is not a readable ONNX model (field past its end)");
                    if (kind == Kind::Tensor && field == 13) bad("stores a tensor as external data");
                    if (kind == Kind::Node && field == 4 &&
                        std::string(reinterpret_cast<const char*>(p), size) == "EPContext") {
                        bad("has an EPContext node, which makes the runtime read files outside the model");
                    }
                    Kind next = child(kind, field);
                    if (next != Kind::Other) message(p, p + size, next, depth + 1);
                    p += size;
                    break;
                }
                default: bad("is not a readable ONNX model (unknown wire type)");
            }
        }
    }
};

}  // namespace

void refuse_onnx_file_references(const std::string& onnx, const std::string& label) {
    const auto* begin = reinterpret_cast<const unsigned char*>(onnx.data());
    Scan{label}.message(begin, begin + onnx.size(), Kind::Model, 0);
}

}  // namespace fastip

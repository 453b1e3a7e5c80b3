// SHA-256 (FIPS 180-4) of a byte stream or a file, as lowercase hex.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace fastip {

class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t size);
    std::string hex_digest();  // finishes the hash; the object must not be updated afterwards

private:
    void block(const std::uint8_t* chunk);

    std::array<std::uint32_t, 8> state_;
    std::array<std::uint8_t, 64> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t length_ = 0;  // bytes hashed so far
};

// Hex SHA-256 of a file's contents; throws fastip::Error when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace fastip

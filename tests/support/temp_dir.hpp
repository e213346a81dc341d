// A fresh folder per test, removed afterwards (kept when DEALERLINE_KEEP_TEST_DIRS is set, to look at).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace dealerline::testing {

class temp_dir {
public:
    explicit temp_dir(const std::string& prefix = "dl-test") {
        std::random_device rd;
        const auto base = std::filesystem::temp_directory_path();
        for (;;) {
            path_ = base / (prefix + "-" + std::to_string(rd()));
            if (std::filesystem::create_directory(path_)) break;
        }
    }
    ~temp_dir() {
        if (std::getenv("DEALERLINE_KEEP_TEST_DIRS") == nullptr) {
            std::error_code ec;
            std::filesystem::remove_all(path_, ec);
        }
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

}  // namespace dealerline::testing

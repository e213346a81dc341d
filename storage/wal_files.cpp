#include "storage/detail/wal_files.hpp"

#include "storage/detail/record.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace dealerline::storage::detail {
namespace {

constexpr std::uint64_t page = 4096;
constexpr std::uint64_t zero_chunk = 1u << 20;  // per write + fdatasync of the zeroer

rocksdb::IOStatus posix_error(const std::string& what, int err) { return rocksdb::IOStatus::IOError(what, std::strerror(err)); }

// The WAL number of a file named NNNNNN.log in `dir`.
std::optional<std::uint64_t> wal_number(const std::string& file, const std::filesystem::path& dir) {
    const std::filesystem::path path(file);
    const auto name = path.filename().string();
    if (name.size() <= 4 || !name.ends_with(".log") || name.size() > 24) return std::nullopt;
    std::uint64_t n = 0;
    for (auto c = name.begin(); c != name.end() - 4; ++c) {
        if (*c < '0' || *c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(*c - '0');
    }
    std::error_code ec;
    if (!std::filesystem::equivalent(path.parent_path(), dir, ec)) return std::nullopt;
    return n;
}

rocksdb::IOStatus write_all(int fd, const char* data, std::size_t n, std::uint64_t at, const std::string& name) {
    const bool short_writes = injected_wal_faults().short_writes.load(std::memory_order_relaxed);
    while (n > 0) {
        const auto w = ::pwrite(fd, data, short_writes ? std::max<std::size_t>(1, n / 2) : n, static_cast<off_t>(at));
        if (w < 0) {
            if (errno == EINTR) continue;
            return posix_error("writing " + name, errno);
        }
        data += w;
        n -= static_cast<std::size_t>(w);
        at += static_cast<std::uint64_t>(w);
    }
    return rocksdb::IOStatus::OK();
}

// --- the writer's side --------------------------------------------------------------------

class zeroer;

// One WAL file. RocksDB appends on its writer thread while our syncer syncs (IsSyncThreadSafe),
// so the end of the data is atomic. The zeroer writes zeros only at or beyond the data's end at
// the time it claims a range, and an append that reaches into a claimed range waits for it.
class wal_file final : public rocksdb::FSWritableFile {
public:
    wal_file(std::string name, std::uint64_t number, int fd, zeroer& z, const rocksdb::FileOptions& options)
        : rocksdb::FSWritableFile(options), name_(std::move(name)), number_(number), fd_(fd), zeroer_(z) {}
    ~wal_file() override;

    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions&, rocksdb::IODebugContext*) override;
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o, const rocksdb::DataVerificationInfo&,
                             rocksdb::IODebugContext* d) override {
        return Append(data, o, d);
    }
    rocksdb::IOStatus Truncate(std::uint64_t size, const rocksdb::IOOptions&, rocksdb::IODebugContext*) override;
    rocksdb::IOStatus Close(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override;
    rocksdb::IOStatus Flush(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override { return rocksdb::IOStatus::OK(); }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override { return sync(false); }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override { return sync(true); }
    bool IsSyncThreadSafe() const override { return true; }
    std::uint64_t GetFileSize(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override { return written.load(); }
    rocksdb::IOStatus Allocate(std::uint64_t, std::uint64_t, const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
        return rocksdb::IOStatus::OK();  // the zeroer allocates, with written zeros
    }

    const std::string& name() const { return name_; }
    int fd() const { return fd_; }

    // A sync of this file failed, here or in the zeroer: Linux reports a writeback error once per
    // open file, so a later sync could succeed while pages it should have written are gone.
    // From then on every append and sync fails with the first error.
    void break_with(std::string why) {
        std::call_once(broken_once_, [&] {
            broken_ = std::move(why);
            broken_flag_.store(true, std::memory_order_release);
        });
    }
    std::optional<rocksdb::IOStatus> broken() const {
        if (!broken_flag_.load(std::memory_order_acquire)) return std::nullopt;
        return rocksdb::IOStatus::IOError("an earlier sync of " + name_ + " failed (" + broken_ + "); nothing written since is durable");
    }

    // RocksDB appends from one thread at a time. `end` moves before a write, for the zeroer to
    // keep clear of it; `written` after, for a sync to know what it covers.
    std::atomic<std::uint64_t> end{0};
    std::atomic<std::uint64_t> written{0};
    std::atomic<std::uint64_t> zeroed{0};  // [0, zeroed) is written: data, or zeros on disk
    // Under the zeroer's mutex: the range it is zeroing now (empty when equal), and whether it
    // should leave this file alone (closing, or a zeroing failed: appends still work).
    std::uint64_t claim_begin = 0, claim_end = 0;
    bool retired = false;

private:
    rocksdb::IOStatus sync(bool metadata);

    std::once_flag broken_once_;
    std::atomic<bool> broken_flag_{false};
    std::string broken_;  // written once, before broken_flag_ is set
    std::string name_;
    std::uint64_t number_;
    int fd_;
    zeroer& zeroer_;
};

// Keeps the live WAL file zeroed ahead of its data, on a thread of its own, and publishes how
// far it is synced for followers.
class zeroer {
public:
    zeroer(std::filesystem::path dir, std::uint64_t ahead) : dir_(std::move(dir)), ahead_(ahead) {
        thread_ = std::thread([this] { run(); });
    }
    ~zeroer() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        work_cv_.notify_all();
        thread_.join();
        if (synced_fd_ >= 0) ::close(synced_fd_);
    }

    // A new live WAL: followers learn its number before the file exists, so they never read
    // it without a limit.
    rocksdb::IOStatus start_live(std::uint64_t number) {
        std::lock_guard lock(synced_mutex_);
        if (synced_fd_ < 0) {
            synced_fd_ = ::open((dir_ / synced_wal_file).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (synced_fd_ < 0) return posix_error("creating " + (dir_ / synced_wal_file).string(), errno);
        }
        live_ = number;
        synced_ = 0;
        return publish();
    }
    // [0, upto) of WAL `number` is on disk.
    void synced(std::uint64_t number, std::uint64_t upto) {
        std::lock_guard lock(synced_mutex_);
        if (number != live_ || upto <= synced_) return;
        synced_ = upto;
        (void)publish();  // a follower that misses this reads less, until the next one
    }

    void add(wal_file* f) {
        {
            std::lock_guard lock(mutex_);
            files_.push_back(f);
        }
        work_cv_.notify_one();
    }
    // No zeroing of `f` after this returns.
    void retire(wal_file* f) {
        std::unique_lock lock(mutex_);
        f->retired = true;
        claim_cv_.wait(lock, [&] { return f->claim_begin == f->claim_end; });
        std::erase(files_, f);
    }

    // An append of [at, at + n) beyond what is zeroed: wait until no zeroing overlaps it, and
    // move the data's end past it before the zeroer claims again.
    void before_append(wal_file* f, std::uint64_t at, std::uint64_t n) {
        std::unique_lock lock(mutex_);
        claim_cv_.wait(lock, [&] { return f->claim_begin == f->claim_end || f->claim_end <= at || f->claim_begin >= at + n; });
        f->end.store(at + n);
    }
    void after_append(const wal_file* f) {
        if (f->end.load(std::memory_order_relaxed) + ahead_ / 2 > f->zeroed.load(std::memory_order_relaxed)) work_cv_.notify_one();
    }

private:
    rocksdb::IOStatus publish() {
        const std::uint64_t record[3] = {live_, synced_, live_ ^ synced_ ^ synced_check};
        return write_all(synced_fd_, reinterpret_cast<const char*>(record), sizeof record, 0, synced_wal_file);
    }

    wal_file* behind() {
        for (auto* f : files_)
            if (!f->retired && f->end.load() + ahead_ > f->zeroed.load()) return f;
        return nullptr;
    }

    void run() {
        pthread_setname_np(pthread_self(), "dl-wal-zeroer");
        const std::vector<char> zeros(zero_chunk, '\0');
        std::unique_lock lock(mutex_);
        for (;;) {
            wal_file* f = nullptr;
            work_cv_.wait(lock, [&] { return stopping_ || (f = behind()) != nullptr; });
            if (stopping_) return;
            // Just ahead of the data; a chunk further on when the data has caught up (or in a
            // fresh file), so that the appends meanwhile need not wait for this chunk. They write
            // into the hole left before it, which costs a metadata commit but is correct.
            std::uint64_t begin = f->zeroed.load();
            if (begin == 0 || begin < f->end.load()) begin = (f->end.load() + zero_chunk + page - 1) / page * page;
            f->claim_begin = begin;
            f->claim_end = begin + zero_chunk;
            lock.unlock();
            // The zeros and the file's new size must be on disk before data overwrites them: only
            // then has a later fdatasync no metadata to commit.
            // A failed write of zeros loses nothing (appends then extend the file themselves); a
            // failed fdatasync of this descriptor may have cost pages of data written before it.
            bool ok = write_all(f->fd(), zeros.data(), zeros.size(), begin, f->name()).ok();
            if (ok) {
                int err = injected_wal_faults().fail_zeroing_sync.exchange(0, std::memory_order_relaxed);
                if (err == 0 && ::fdatasync(f->fd()) != 0) err = errno;
                if (err != 0) {
                    f->break_with(std::string("syncing zeros ahead of the data: ") + std::strerror(err));
                    ok = false;
                }
            }
            lock.lock();
            if (ok)
                f->zeroed.store(begin + zero_chunk);
            else
                f->retired = true;
            f->claim_begin = f->claim_end = 0;
            claim_cv_.notify_all();
        }
    }

    const std::filesystem::path dir_;
    const std::uint64_t ahead_;

    std::mutex mutex_;
    std::condition_variable work_cv_, claim_cv_;
    std::vector<wal_file*> files_;
    bool stopping_ = false;

    std::mutex synced_mutex_;
    int synced_fd_ = -1;
    std::uint64_t live_ = 0, synced_ = 0;

    std::thread thread_;
};

wal_file::~wal_file() {
    if (fd_ >= 0) {
        zeroer_.retire(this);
        ::close(fd_);
    }
}

rocksdb::IOStatus wal_file::Append(const rocksdb::Slice& data, const rocksdb::IOOptions&, rocksdb::IODebugContext*) {
    if (auto b = broken()) return *b;
    if (const int err = injected_wal_faults().fail_write.exchange(0, std::memory_order_relaxed); err != 0)
        return posix_error("writing " + name_ + " (injected)", err);
    const std::uint64_t at = end.load(std::memory_order_relaxed);
    if (at + data.size() <= zeroed.load(std::memory_order_acquire))
        end.store(at + data.size(), std::memory_order_release);
    else
        zeroer_.before_append(this, at, data.size());
    auto s = write_all(fd_, data.data(), data.size(), at, name_);
    if (s.ok())
        written.store(at + data.size(), std::memory_order_release);
    else
        end.store(at);  // RocksDB stops writing after a failed append; keep the zeroer's view true
    zeroer_.after_append(this);
    return s;
}

rocksdb::IOStatus wal_file::sync(bool metadata) {
    auto& faults = injected_wal_faults();
    if (faults.gate_syncs.load(std::memory_order_relaxed)) {
        faults.waiting.fetch_add(1);
        for (;;) {
            int p = faults.permits.load();
            if (p > 0 && faults.permits.compare_exchange_weak(p, p - 1)) break;
            if (!faults.gate_syncs.load()) break;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        faults.waiting.fetch_sub(1);
    }
    if (auto b = broken()) return *b;
    const std::uint64_t upto = written.load(std::memory_order_acquire);
    int err = faults.fail_sync.exchange(0, std::memory_order_relaxed);
    if (err == 0 && (metadata ? ::fsync(fd_) : ::fdatasync(fd_)) != 0) err = errno;
    if (err != 0) {
        break_with(std::string("syncing: ") + std::strerror(err));
        return posix_error("syncing " + name_, err);
    }
    zeroer_.synced(number_, upto);
    return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus wal_file::Truncate(std::uint64_t size, const rocksdb::IOOptions&, rocksdb::IODebugContext*) {
    zeroer_.retire(this);
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return posix_error("truncating " + name_, errno);
    end.store(size);
    written.store(size);
    return rocksdb::IOStatus::OK();
}

// A closed WAL file is exactly its data: whoever reads it to its end finds no zeros.
rocksdb::IOStatus wal_file::Close(const rocksdb::IOOptions&, rocksdb::IODebugContext*) {
    if (fd_ < 0) return rocksdb::IOStatus::OK();
    zeroer_.retire(this);
    rocksdb::IOStatus s;
    if (auto b = broken())
        s = *b;
    else if (::ftruncate(fd_, static_cast<off_t>(written.load())) != 0 || ::fsync(fd_) != 0)
        s = posix_error("closing " + name_, errno);
    ::close(fd_);
    fd_ = -1;
    return s;
}

class zeroing_fs final : public rocksdb::FileSystemWrapper {
public:
    zeroing_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir, std::uint64_t ahead)
        : rocksdb::FileSystemWrapper(std::move(target)), dir_(dir), zeroer_(std::move(dir), ahead) {}
    const char* Name() const override { return "dealerline-zeroed-wal"; }

    rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* dbg) override {
        const auto number = wal_number(f, dir_);
        if (!number) return target()->NewWritableFile(f, options, r, dbg);
        if (auto s = zeroer_.start_live(*number); !s.ok()) return s;
        const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return posix_error("creating " + f, errno);
        auto file = std::make_unique<wal_file>(f, *number, fd, zeroer_, options);
        zeroer_.add(file.get());
        *r = std::move(file);
        return rocksdb::IOStatus::OK();
    }

private:
    std::filesystem::path dir_;
    zeroer zeroer_;
};

// --- a follower's side ----------------------------------------------------------------------

// Reads a WAL file with pread (stdio would keep bytes that the writer is about to overwrite),
// up to what the writer published as synced if this is its live WAL.
class wal_reader final : public rocksdb::FSSequentialFile {
public:
    wal_reader(std::string name, std::uint64_t number, int fd, std::filesystem::path synced)
        : name_(std::move(name)), number_(number), fd_(fd), synced_(std::move(synced)) {}
    ~wal_reader() override {
        ::close(fd_);
        if (synced_fd_ >= 0) ::close(synced_fd_);
    }

    rocksdb::IOStatus Read(std::size_t n, const rocksdb::IOOptions&, rocksdb::Slice* result, char* scratch,
                           rocksdb::IODebugContext*) override {
        n = clamp(n);
        std::size_t got = 0;
        while (got < n) {
            const auto r = ::pread(fd_, scratch + got, n - got, static_cast<off_t>(pos_ + got));
            if (r < 0) {
                if (errno == EINTR) continue;
                return posix_error("reading " + name_, errno);
            }
            if (r == 0) break;
            got += static_cast<std::size_t>(r);
        }
        pos_ += got;
        *result = rocksdb::Slice(scratch, got);
        return rocksdb::IOStatus::OK();
    }
    rocksdb::IOStatus Skip(std::uint64_t n) override {
        pos_ += clamp(n);
        return rocksdb::IOStatus::OK();
    }

private:
    // How much of `n` more bytes may be read: all, unless this is the writer's live WAL. The
    // writer updates the file in place and never replaces it, so one descriptor serves (if it is
    // deleted, by a writer without zeroing, its last number is older than any WAL to come).
    std::uint64_t clamp(std::uint64_t n) {
        if (synced_fd_ < 0) synced_fd_ = ::open(synced_.c_str(), O_RDONLY | O_CLOEXEC);
        if (synced_fd_ < 0) return n;  // the writer keeps no zeroed WAL
        std::uint64_t record[3] = {};
        bool consistent = false;
        for (int attempt = 0; attempt < 100 && !consistent; ++attempt)  // a concurrent update is 24 bytes
            consistent = ::pread(synced_fd_, record, sizeof record, 0) == static_cast<ssize_t>(sizeof record) &&
                         (record[0] ^ record[1] ^ synced_check) == record[2];
        if (!consistent || record[0] != number_) return n;
        return record[1] > pos_ ? std::min(n, record[1] - pos_) : 0;
    }

    std::string name_;
    std::uint64_t number_;
    int fd_;
    std::filesystem::path synced_;
    int synced_fd_ = -1;
    std::uint64_t pos_ = 0;
};

class following_fs final : public rocksdb::FileSystemWrapper {
public:
    following_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir)
        : rocksdb::FileSystemWrapper(std::move(target)), dir_(std::move(dir)) {}
    const char* Name() const override { return "dealerline-following"; }

    rocksdb::IOStatus NewSequentialFile(const std::string& f, const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSSequentialFile>* r, rocksdb::IODebugContext* dbg) override {
        const auto number = wal_number(f, dir_);
        if (!number) return target()->NewSequentialFile(f, options, r, dbg);
        const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return errno == ENOENT ? rocksdb::IOStatus::PathNotFound(f) : posix_error("opening " + f, errno);
        *r = std::make_unique<wal_reader>(f, *number, fd, dir_ / synced_wal_file);
        return rocksdb::IOStatus::OK();
    }

private:
    std::filesystem::path dir_;
};

// The events a WriteBatch puts, in its order: position and record (pointing into the batch).
struct events_in_batch final : rocksdb::WriteBatch::Handler {
    explicit events_in_batch(std::uint32_t events_family) : family(events_family) {}
    rocksdb::Status PutCF(std::uint32_t column_family, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
        if (column_family != family || key.size() != 8) return rocksdb::Status::OK();
        events.emplace_back(from_be64(key.ToStringView()), value.ToStringView());
        return rocksdb::Status::OK();
    }
    // The defaults refuse other families' deletes and merges; here they are simply not events.
    rocksdb::Status DeleteCF(std::uint32_t, const rocksdb::Slice&) override { return rocksdb::Status::OK(); }
    rocksdb::Status SingleDeleteCF(std::uint32_t, const rocksdb::Slice&) override { return rocksdb::Status::OK(); }
    rocksdb::Status DeleteRangeCF(std::uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
        return rocksdb::Status::OK();
    }
    rocksdb::Status MergeCF(std::uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override { return rocksdb::Status::OK(); }
    std::uint32_t family;
    std::vector<std::pair<std::uint64_t, std::string_view>> events;
};

}  // namespace

void wal_faults::reset() noexcept {
    fail_sync = 0;
    fail_write = 0;
    fail_zeroing_sync = 0;
    short_writes = false;
    gate_syncs = false;
    permits = 0;
}

wal_faults& injected_wal_faults() noexcept {
    static wal_faults faults;
    return faults;
}

std::shared_ptr<rocksdb::FileSystem> writer_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir,
                                               std::uint64_t zeroed_ahead) {
    return std::make_shared<zeroing_fs>(std::move(target), std::move(dir), zeroed_ahead);
}

std::shared_ptr<rocksdb::FileSystem> follower_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir) {
    return std::make_shared<following_fs>(std::move(target), std::move(dir));
}

void position_gap_filter::ColumnFamilyLogNumberMap(const std::map<std::uint32_t, std::uint64_t>& log_numbers,
                                                   const std::map<std::string, std::uint32_t>& family_ids) {
    if (auto it = family_ids.find(family_name_); it != family_ids.end()) {
        family_id_ = it->second;
        known_ = true;
        if (auto n = log_numbers.find(family_id_); n != log_numbers.end()) family_log_ = n->second;
    }
}

rocksdb::WalFilter::WalProcessingOption position_gap_filter::LogRecordFound(unsigned long long log_number, const std::string&,
                                                                            const rocksdb::WriteBatch& batch,
                                                                            rocksdb::WriteBatch*, bool*) {
    const auto go_on = record_only_ ? WalProcessingOption::kIgnoreCurrentRecord : WalProcessingOption::kContinueProcessing;
    if (!known_) return go_on;  // a new log: no events yet
    // Replay skips the events of WAL files older than the family's own: they are in its tables.
    if (log_number < family_log_) return go_on;
    events_in_batch found(family_id_);
    if (!batch.Iterate(&found).ok()) return go_on;  // not one of ours to judge
    if (found.events.empty()) return go_on;
    const bool first = first_position_ == 0;
    for (const auto& [position, value] : found.events) {
        event_view view;
        std::string_view canonical;
        const bool decoded = decode_event(value, view, canonical) && view.position == position;
        if (first_position_ == 0) {
            first_position_ = position;
            first_record_.assign(value);
        }
        const bool continues = !chained_ || position == next_;
        // Only the writer's look before its open judges links: a crash leaves gaps in positions,
        // never a wrong hash at the right position (RocksDB checks each record's CRC), so that is
        // damage or tampering, for the open to refuse and the auditor's verify to name.
        const bool links = !record_only_ || (decoded && (!chained_ || chain_hash(previous_, view) == view.hash));
        if (!continues || !links) {
            stopped_ = stop{next_, position, continues, first};
            return WalProcessingOption::kStopReplay;
        }
        chained_ = true;
        next_ = position + 1;
        if (decoded) previous_ = view.hash;
    }
    return go_on;
}

}  // namespace dealerline::storage::detail

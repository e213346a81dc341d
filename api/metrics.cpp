#include "api/metrics.hpp"

#include <map>
#include <mutex>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace dealerline::api {

struct metrics::impl {
    prometheus::Registry registry;
    prometheus::Family<prometheus::Counter>& commands = prometheus::BuildCounter()
                                                            .Name("dealerline_commands_total")
                                                            .Help("Commands received, by type and outcome")
                                                            .Register(registry);
    prometheus::Family<prometheus::Histogram>& latency = prometheus::BuildHistogram()
                                                             .Name("dealerline_command_duration_seconds")
                                                             .Help("From a command's arrival to its answer (durable when ok)")
                                                             .Register(registry);
    prometheus::Histogram& latency_all =
        latency.Add({}, prometheus::Histogram::BucketBoundaries{0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1});
    prometheus::Counter& appended = prometheus::BuildCounter()
                                        .Name("dealerline_events_appended_total")
                                        .Help("Events appended by commands of this process")
                                        .Register(registry)
                                        .Add({});
    prometheus::Family<prometheus::Counter>& requests = prometheus::BuildCounter()
                                                            .Name("dealerline_http_requests_total")
                                                            .Help("HTTP requests answered, by status code")
                                                            .Register(registry);
    prometheus::Gauge& open = prometheus::BuildGauge()
                                  .Name("dealerline_http_connections")
                                  .Help("Open HTTP connections")
                                  .Register(registry)
                                  .Add({});
    prometheus::Gauge& head = prometheus::BuildGauge()
                                  .Name("dealerline_log_head_position")
                                  .Help("The event log's last committed position")
                                  .Register(registry)
                                  .Add({});
    prometheus::Family<prometheus::Gauge>& position = prometheus::BuildGauge()
                                                          .Name("dealerline_projection_position")
                                                          .Help("Each projection's checkpoint")
                                                          .Register(registry);
    prometheus::Family<prometheus::Gauge>& lag = prometheus::BuildGauge()
                                                     .Name("dealerline_projection_lag_events")
                                                     .Help("Log head minus the projection's checkpoint")
                                                     .Register(registry);
    prometheus::Family<prometheus::Gauge>& failed = prometheus::BuildGauge()
                                                        .Name("dealerline_projection_failed")
                                                        .Help("1 while a poison event stops the projection")
                                                        .Register(registry);
    prometheus::Gauge& live_open = prometheus::BuildGauge()
                                       .Name("dealerline_websocket_connections")
                                       .Help("Open live-feed websockets")
                                       .Register(registry)
                                       .Add({});
    prometheus::Counter& live_messages = prometheus::BuildCounter()
                                             .Name("dealerline_websocket_messages_sent_total")
                                             .Help("Messages written to live-feed websockets")
                                             .Register(registry)
                                             .Add({});
    prometheus::Counter& live_bytes = prometheus::BuildCounter()
                                          .Name("dealerline_websocket_bytes_sent_total")
                                          .Help("Payload bytes written to live-feed websockets")
                                          .Register(registry)
                                          .Add({});
    prometheus::Counter& live_slow = prometheus::BuildCounter()
                                         .Name("dealerline_websocket_slow_clients_dropped_total")
                                         .Help("Websockets closed because their send queue was full")
                                         .Register(registry)
                                         .Add({});
    prometheus::Counter& limited = prometheus::BuildCounter()
                                       .Name("dealerline_rate_limited_total")
                                       .Help("Requests and socket commands refused by the per-token rate limit")
                                       .Register(registry)
                                       .Add({});
    prometheus::Family<prometheus::Counter>& internal = prometheus::BuildCounter()
                                                            .Name("dealerline_internal_errors_total")
                                                            .Help("Failures caught by a last-resort handler (a bug or a broken dependency), by component")
                                                            .Register(registry);
    prometheus::Gauge& log_failed = prometheus::BuildGauge()
                                        .Name("dealerline_log_failed")
                                        .Help("1 once a write or sync of the event log failed: appends are refused until a restart")
                                        .Register(registry)
                                        .Add({});
    prometheus::Gauge& disk_free = prometheus::BuildGauge()
                                       .Name("dealerline_log_disk_free_bytes")
                                       .Help("Free bytes on the event log's disk")
                                       .Register(registry)
                                       .Add({});
    prometheus::Gauge& space_low = prometheus::BuildGauge()
                                       .Name("dealerline_log_disk_space_low")
                                       .Help("1 while the log's disk is under --min-free-bytes: appends are refused")
                                       .Register(registry)
                                       .Add({});
    std::mutex render_m;
    std::mutex totals_m;
    std::map<std::string, std::uint64_t> reported;  // component -> errors counted so far
};

metrics::metrics() : impl_(std::make_unique<impl>()) {}
metrics::~metrics() = default;

void metrics::command(std::string_view type, std::string_view outcome, double seconds, std::size_t events) {
    impl_->commands.Add({{"type", std::string(type)}, {"outcome", std::string(outcome)}}).Increment();
    impl_->latency_all.Observe(seconds);
    if (events) impl_->appended.Increment(static_cast<double>(events));
}

void metrics::request(unsigned status) { impl_->requests.Add({{"code", std::to_string(status)}}).Increment(); }

void metrics::connections(std::size_t open) { impl_->open.Set(static_cast<double>(open)); }

void metrics::live_connections(std::size_t open) { impl_->live_open.Set(static_cast<double>(open)); }

void metrics::live_sent(std::size_t bytes) {
    impl_->live_messages.Increment();
    impl_->live_bytes.Increment(static_cast<double>(bytes));
}

void metrics::live_dropped_slow() { impl_->live_slow.Increment(); }

void metrics::rate_limited() { impl_->limited.Increment(); }

void metrics::internal_error(std::string_view component) {
    impl_->internal.Add({{"component", std::string(component)}}).Increment();
}

void metrics::component_errors(const std::string& component, std::uint64_t total) {
    std::lock_guard lock(impl_->totals_m);
    auto& seen = impl_->reported[component];
    if (total <= seen) return;
    impl_->internal.Add({{"component", component}}).Increment(static_cast<double>(total - seen));
    seen = total;
}

void metrics::log_state(bool failed, std::uint64_t free_bytes, bool space_low) {
    impl_->log_failed.Set(failed ? 1 : 0);
    impl_->disk_free.Set(static_cast<double>(free_bytes));
    impl_->space_low.Set(space_low ? 1 : 0);
}

std::string metrics::render(std::uint64_t head, const std::vector<projections::status>& statuses) {
    std::lock_guard lock(impl_->render_m);
    impl_->head.Set(static_cast<double>(head));
    for (const auto& s : statuses) {
        impl_->position.Add({{"projection", s.name}}).Set(static_cast<double>(s.position));
        impl_->lag.Add({{"projection", s.name}}).Set(static_cast<double>(s.lag_events));
        impl_->failed.Add({{"projection", s.name}}).Set(s.state == "failed" ? 1 : 0);
    }
    return prometheus::TextSerializer{}.Serialize(impl_->registry.Collect());
}

}  // namespace dealerline::api

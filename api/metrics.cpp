#include "api/metrics.hpp"

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
    std::mutex render_m;
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

// ws_bench's anchor: a bare Beast WebSocket broadcast server (ws_bench
// --bare-server N), no protocol: "sub N" subscribes, "pub N payload" or
// POST /pub publishes to channel N's subscribers.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "bench/loopback.hpp"
#include "bench/ws_bench.hpp"

namespace switchboard::bench::ws_bench {

namespace {

/// The anchor: fan-out with nothing else. Mirrors the daemon's layout: a
/// list of subscribers per thread, a frame shared by every subscriber, a
/// bounded send queue per connection.
struct bare_server {
  struct session;
  struct thread_state {
    asio::io_context ioc{1};
    std::unordered_map<std::size_t, std::vector<std::shared_ptr<session>>> subs;
  };
  std::vector<std::unique_ptr<thread_state>> threads;
  static constexpr std::size_t queue_bound = 1000;

  struct session : std::enable_shared_from_this<session> {
    session(tcp::socket s, bare_server& srv, std::size_t t)
        : ws(std::move(s)), server(srv), thread(t) {}
    websocket::stream<tcp::socket> ws;
    bare_server& server;
    std::size_t thread;
    beast::flat_buffer buf;
    std::deque<std::shared_ptr<const std::string>> out;
    bool writing = false;
    bool closed = false;
    std::vector<std::size_t> channels;

    http::request<http::string_body> req;
    http::response<http::string_body> res;

    /// The first request says what the connection is: a WebSocket
    /// upgrade (a subscriber or the WebSocket publisher) or keep-alive
    /// HTTP publishing.
    void start() {
      http::async_read(
          ws.next_layer(), buf, req,
          [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
              return;
            if (websocket::is_upgrade(self->req))
              return self->upgrade();
            self->on_http();
          });
    }
    void upgrade() {
      ws.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
        if (!ec)
          self->read();
      });
    }
    /// POST /pub: channels on the first line, the frame after it.
    void on_http() {
      const auto& body = req.body();
      auto nl = body.find('\n');
      if (nl != std::string::npos) {
        auto frame = std::make_shared<const std::string>(body.substr(nl + 1));
        std::istringstream in{body.substr(0, nl)};
        std::size_t ch = 0;
        while (in >> ch)
          publish(ch, frame);
      }
      res = {nl == std::string::npos ? http::status::bad_request
                                     : http::status::ok,
             11};
      res.keep_alive(true);
      res.body() = "ok";
      res.prepare_payload();
      http::async_write(
          ws.next_layer(), res,
          [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
              return;
            self->req = {};
            self->start();
          });
    }
    void publish(std::size_t ch,
                 const std::shared_ptr<const std::string>& frame) {
      for (auto& t : server.threads)
        asio::post(t->ioc, [ts = t.get(), ch, frame] {
          auto l = ts->subs.find(ch);
          if (l != ts->subs.end())
            for (auto& s : l->second)
              s->send(frame);
        });
    }
    void read() {
      ws.async_read(
          buf, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
              return self->gone();
            auto d = self->buf.cdata();
            std::string text{static_cast<const char*>(d.data()), d.size()};
            self->buf.consume(self->buf.size());
            self->on_message(text);
            self->read();
          });
    }
    void on_message(const std::string& text) {
      if (text.rfind("sub ", 0) == 0) {
        auto ch = static_cast<std::size_t>(std::atol(text.c_str() + 4));
        server.threads[thread]->subs[ch].push_back(shared_from_this());
        channels.push_back(ch);
        send(std::make_shared<const std::string>("ok"));
      } else if (text.rfind("pub ", 0) == 0) {
        auto sp = text.find(' ', 4);
        auto ch = static_cast<std::size_t>(std::atol(text.c_str() + 4));
        publish(ch, std::make_shared<const std::string>(
                        sp == std::string::npos ? std::string{}
                                                : text.substr(sp + 1)));
      }
    }
    void send(const std::shared_ptr<const std::string>& f) {
      if (closed)
        return;
      if (out.size() >= queue_bound) {
        closed = true;
        beast::error_code ec;
        ws.next_layer().close(ec);
        return;
      }
      out.push_back(f);
      if (!writing)
        write_next();
    }
    void write_next() {
      writing = true;
      auto f = out.front();
      ws.text(true);
      ws.async_write(asio::buffer(*f), [self = shared_from_this(),
                                        f](beast::error_code ec, std::size_t) {
        self->writing = false;
        self->out.pop_front();
        if (ec) {
          self->out.clear();
          return;
        }
        if (!self->out.empty())
          self->write_next();
      });
    }
    void gone() {
      closed = true;
      auto& subs = server.threads[thread]->subs;
      for (auto ch : channels) {
        auto& l = subs[ch];
        l.erase(std::remove(l.begin(), l.end(), shared_from_this()), l.end());
      }
      channels.clear();
    }
  };

  int run(std::size_t n) {
    raise_fd_limit();
    for (std::size_t i = 0; i < n; ++i)
      threads.push_back(std::make_unique<thread_state>());
    tcp::acceptor acceptor{threads[0]->ioc};
    tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), 0};
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    std::printf("bare server listening on 127.0.0.1:%u\n",
                static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    std::size_t next = 0;
    std::function<void()> accept = [&] {
      auto t = next++ % threads.size();
      acceptor.async_accept(
          threads[t]->ioc, [&, t](beast::error_code ec, tcp::socket s) {
            if (!ec) {
              s.set_option(tcp::no_delay(true), ec);
              std::make_shared<session>(std::move(s), *this, t)->start();
            } else {
              std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            accept();
          });
    };
    accept();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    io_runners runners{threads};
    int sig = 0;
    sigwait(&stop, &sig);
    runners.stop();
    // Sessions hold each other through the lists: exit without freeing.
    std::fflush(stdout);
    _exit(0);
  }
};

} // namespace

int run_bare_server(std::size_t threads) {
  bare_server srv;
  return srv.run(threads);
}

} // namespace switchboard::bench::ws_bench

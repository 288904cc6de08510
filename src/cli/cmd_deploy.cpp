// `vision deploy edge` and `vision deploy remote`.
#include "common.hpp"
#include "vision/remote/inference_server.hpp"

namespace vision::cli {

namespace {

struct DeployOptions {
  CommonOptions common;
  std::optional<std::string> mode, source, max_frames, model, port;
  bool insecure = false;  // deploy remote: a non-loopback host without ingest_api_key
};

Expected<void> check_edge_inputs(const Config& c) {
  const std::string source = c.string("deploy.edge.source");
  if (source == "images") {
    if (auto ok = require_path(c.path("deploy.edge.images_dir"), "deploy.edge.images_dir", true); !ok) return ok;
  } else if (source == "video") {
    if (auto ok = require_path(c.path("deploy.edge.video_path"), "deploy.edge.video_path", false); !ok) return ok;
  }
  if (c.string("deploy.edge.mode") == "local") {
    if (auto ok = require_path(c.path("deploy.edge.local_model"), "deploy.edge.local_model", false); !ok) return ok;
  }
  // A missing key stops the run before the source is opened or a frame sent.
  if (c.string("deploy.edge.mode") == "llm") return require_llm_api_key(c, "deploy.edge.llm");
  return {};
}

int run_edge(DeployOptions options) {
  set_if(options.common, "deploy.edge.mode", options.mode);
  set_if(options.common, "deploy.edge.source", options.source);
  set_if(options.common, "deploy.edge.max_frames", options.max_frames);
  set_if(options.common, "deploy.edge.local_model", options.model);
  return run_command(
      options.common, "deploy-edge",
      [](const Config& c) { return RunSpec{"deploy-edge", "deploy_mode", c.string("deploy.edge.mode")}; },
      check_edge_inputs,
      [](Run& run) -> Expected<void> {
        auto backend = edge_modes().find(run.config().string("deploy.edge.mode"));
        if (!backend) return std::unexpected(backend.error());
        return backend->get()(run);
      });
}

int run_remote(DeployOptions options) {
  set_if(options.common, "deploy.remote.model", options.model);
  set_if(options.common, "deploy.remote.listen_port", options.port);
  return run_command(
      options.common, "deploy-remote",
      [](const Config&) { return RunSpec{"deploy-remote", "deploy_mode", "remote"}; },
      [insecure = options.insecure](const Config& c) -> Expected<void> {
        InferenceServerOptions exposure;
        exposure.host = c.string("deploy.remote.listen_host");
        exposure.ingest_api_key = c.string("deploy.remote.ingest_api_key");
        exposure.insecure = insecure;
        if (auto ok = check_exposure(exposure); !ok) return ok;
        return require_path(c.path("deploy.remote.model"), "deploy.remote.model", false);
      },
      [insecure = options.insecure](Run& run) { return deploy_remote(run, insecure); });
}

}  // namespace

void add_deploy_command(CLI::App& app, Action& action) {
  auto* deploy = app.add_subcommand("deploy", "Run a detector at the edge or as an inference server");
  deploy->require_subcommand(1);

  auto edge_options = std::make_shared<DeployOptions>();
  auto* edge = deploy->add_subcommand("edge", "Detect on a camera, video, image folder or RTSP stream");
  add_common_options(*edge, edge_options->common);
  edge->add_option("--mode", edge_options->mode, "deploy.edge.mode (local|stream|llm)");
  edge->add_option("--source", edge_options->source, "deploy.edge.source (camera|video|images|rtsp)");
  edge->add_option("--max-frames", edge_options->max_frames, "deploy.edge.max_frames (0 = all)");
  edge->add_option("--model", edge_options->model, "deploy.edge.local_model");
  edge->callback([&action, edge_options] { action = [edge_options] { return run_edge(*edge_options); }; });

  auto remote_options = std::make_shared<DeployOptions>();
  auto* remote = deploy->add_subcommand("remote", "HTTP inference server for edge devices");
  add_common_options(*remote, remote_options->common);
  remote->add_option("--model", remote_options->model, "deploy.remote.model");
  remote->add_option("--port", remote_options->port, "deploy.remote.listen_port (0 = any free port)");
  remote->add_flag("--insecure", remote_options->insecure, "Serve a non-loopback listen_host without ingest_api_key");
  remote->callback([&action, remote_options] { action = [remote_options] { return run_remote(*remote_options); }; });
}

}  // namespace vision::cli

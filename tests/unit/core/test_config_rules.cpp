// Every value rule of the schema, triggered once: each row breaks one rule with --set and
// expects the error to name that key. A last test checks that no rule is left without a row.
#include <gtest/gtest.h>

#include <set>

#include "core/config_schema.hpp"
#include "vision/core/config.hpp"

using vision::Config;
using vision::ConfigSources;

namespace {

struct BrokenRule {
  std::vector<std::string> overrides;  // the first breaks the rule; the rest set the context
  std::string key;                     // must be named in the error
  std::string words;                   // part of the message
};

void PrintTo(const BrokenRule& row, std::ostream* os) { *os << row.overrides.front(); }

const std::vector<BrokenRule>& broken_rules() {
  static const std::vector<BrokenRule> rows = {
      {{"app.schema_version=2"}, "app.schema_version", "must be in [1, 1]"},
      {{"workspace.root="}, "workspace.root", "must not be empty"},
      {{"workspace.run_name=a/b"}, "workspace.run_name", "folder name"},
      {{"workspace.log_file="}, "workspace.log_file", "must not be empty"},
      {{"workspace.log_level=TRACE"}, "workspace.log_level", "DEBUG|INFO|WARN|ERROR"},
      {{"class_map.names=[]"}, "class_map.names", "at least one"},
      {{"class_map.names=[a, a]"}, "class_map.names", "unique"},
      {{"class_map.id_map={a = 1, b = 0}", "class_map.names=[a, b]"}, "class_map.id_map", "must be 0"},
      {{"train.backend=detr"}, "train.backend", "yolo|faster_rcnn"},
      {{"train.device=gpu"}, "train.device", "cpu, cuda, cuda:N, N (a GPU index) or mps"},
      {{"train.device=0,1"}, "train.device", "several GPUs is not available yet"},
      {{"train.seed=-1"}, "train.seed", ">= 0"},
      {{"train.epochs=0"}, "train.epochs", "> 0"},
      {{"train.batch_size=0"}, "train.batch_size", "> 0"},
      {{"train.img_size=100"}, "train.img_size", "multiple of 32"},
      {{"train.threads=-2"}, "train.threads", ">= 0"},
      {{"train.yolo.model_scale=x"}, "train.yolo.model_scale", "n|s|m"},
      {{"train.yolo.optimizer=Adam"}, "train.yolo.optimizer", "auto|SGD|AdamW"},
      {{"train.yolo.lr0=0"}, "train.yolo.lr0", "> 0"},
      {{"train.yolo.lrf=0"}, "train.yolo.lrf", "(0, 1]"},
      {{"train.yolo.momentum=1.5"}, "train.yolo.momentum", "[0, 1]"},
      {{"train.yolo.weight_decay=-1"}, "train.yolo.weight_decay", ">= 0"},
      {{"train.yolo.warmup_epochs=-1"}, "train.yolo.warmup_epochs", ">= 0"},
      {{"train.yolo.warmup_bias_lr=-1"}, "train.yolo.warmup_bias_lr", ">= 0"},
      {{"train.yolo.nbs=0"}, "train.yolo.nbs", "> 0"},
      {{"train.yolo.box=-1"}, "train.yolo.box", ">= 0"},
      {{"train.yolo.cls=-1"}, "train.yolo.cls", ">= 0"},
      {{"train.yolo.dfl=-1"}, "train.yolo.dfl", ">= 0"},
      {{"train.yolo.grad_clip=-1"}, "train.yolo.grad_clip", ">= 0"},
      {{"train.yolo.patience=-1"}, "train.yolo.patience", ">= 0"},
      {{"train.yolo.workers=-1"}, "train.yolo.workers", ">= 0"},
      {{"train.yolo.precision=fp16"}, "train.yolo.precision", "fp32|bf16"},
      {{"train.yolo.close_mosaic=-1"}, "train.yolo.close_mosaic", ">= 0"},
      {{"train.yolo.mosaic=2"}, "train.yolo.mosaic", "[0, 1]"},
      {{"train.yolo.hsv_h=2"}, "train.yolo.hsv_h", "[0, 1]"},
      {{"train.yolo.hsv_s=2"}, "train.yolo.hsv_s", "[0, 1]"},
      {{"train.yolo.hsv_v=2"}, "train.yolo.hsv_v", "[0, 1]"},
      {{"train.yolo.translate=2"}, "train.yolo.translate", "[0, 1]"},
      {{"train.yolo.scale=2"}, "train.yolo.scale", "[0, 1]"},
      {{"train.yolo.fliplr=2"}, "train.yolo.fliplr", "[0, 1]"},
      {{"train.faster_rcnn.variant=vgg", "train.backend=faster_rcnn"}, "train.faster_rcnn.variant",
       "mobilenet_v3|resnet50_fpn|resnet50_fpn_v2|resnet18_fpn|resnet50"},
      {{"train.faster_rcnn.lr=0"}, "train.faster_rcnn.lr", "> 0"},
      {{"train.faster_rcnn.momentum=2"}, "train.faster_rcnn.momentum", "[0, 1]"},
      {{"train.faster_rcnn.weight_decay=-1"}, "train.faster_rcnn.weight_decay", ">= 0"},
      {{"train.faster_rcnn.num_workers=-1"}, "train.faster_rcnn.num_workers", ">= 0"},
      {{"train.faster_rcnn.max_samples=-1"}, "train.faster_rcnn.max_samples", ">= 0"},
      {{"train.faster_rcnn.patience=-1"}, "train.faster_rcnn.patience", ">= 0"},
      {{"train.distributed.timeout_s=0"}, "train.distributed.timeout_s", "> 0"},
      {{"export.opset=9"}, "export.opset", "[13, 21]"},
      {{"export.quantize_mode=fp16"}, "export.quantize_mode", "dynamic|static"},
      {{"export.calib_samples=0"}, "export.calib_samples", "> 0"},
      {{"autolabel.mode=human"}, "autolabel.mode", "model|llm"},
      {{"autolabel.confidence=1.5"}, "autolabel.confidence", "[0, 1]"},
      {{"autolabel.batch_size=0"}, "autolabel.batch_size", "> 0"},
      {{"autolabel.on_conflict=replace"}, "autolabel.on_conflict", "skip|overwrite|merge"},
      {{"autolabel.val_fraction=2"}, "autolabel.val_fraction", "[0, 1]"},
      {{"autolabel.model.onnx_model=", "autolabel.mode=model"}, "autolabel.model.onnx_model", "must be set when autolabel.mode"},
      {{"autolabel.model.backend=ssd"}, "autolabel.model.backend", "yolo|faster_rcnn"},
      {{"autolabel.llm.max_images=-1"}, "autolabel.llm.max_images", ">= 0"},
      {{"autolabel.llm.base_url=ftp://x", "autolabel.mode=llm", "autolabel.llm.model=m"}, "autolabel.llm.base_url", "http://"},
      {{"autolabel.llm.model=", "autolabel.mode=llm", "autolabel.llm.base_url=http://h/v1"}, "autolabel.llm.model", "must be set when"},
      {{"autolabel.llm.timeout_sec=0"}, "autolabel.llm.timeout_sec", "> 0"},
      {{"autolabel.llm.max_retries=-1"}, "autolabel.llm.max_retries", ">= 0"},
      {{"autolabel.llm.retry_backoff_sec=-1"}, "autolabel.llm.retry_backoff_sec", ">= 0"},
      {{"autolabel.llm.qps_limit=-1"}, "autolabel.llm.qps_limit", ">= 0"},
      {{"autolabel.llm.max_image_side=-1"}, "autolabel.llm.max_image_side", ">= 0"},
      {{"autolabel.llm.bbox_2d_scale=percent"}, "autolabel.llm.bbox_2d_scale", "pixels|1000"},
      {{"autolabel.llm.class_aliases={auto = \"car\"}"}, "autolabel.llm.class_aliases", "\"car\" is not in class_map.names"},
      {{"deploy.edge.source_id="}, "deploy.edge.source_id", "must not be empty"},
      {{"deploy.edge.mode=cloud"}, "deploy.edge.mode", "local|stream|llm"},
      {{"deploy.edge.source=usb"}, "deploy.edge.source", "camera|video|images|rtsp"},
      {{"deploy.edge.camera_id=-1"}, "deploy.edge.camera_id", ">= 0"},
      {{"deploy.edge.video_path=", "deploy.edge.source=video"}, "deploy.edge.video_path", "must be set when"},
      {{"deploy.edge.images_dir=", "deploy.edge.source=images"}, "deploy.edge.images_dir", "must be set when"},
      {{"deploy.edge.rtsp_url=", "deploy.edge.source=rtsp"}, "deploy.edge.rtsp_url", "must be set when"},
      {{"deploy.edge.fps_limit=-1"}, "deploy.edge.fps_limit", ">= 0"},
      {{"deploy.edge.jpeg_quality=0"}, "deploy.edge.jpeg_quality", "[1, 100]"},
      {{"deploy.edge.confidence=-0.1"}, "deploy.edge.confidence", "[0, 1]"},
      {{"deploy.edge.local_model=", "deploy.edge.mode=local"}, "deploy.edge.local_model", "must be set when"},
      {{"deploy.edge.stats_endpoint=localhost:7797"}, "deploy.edge.stats_endpoint", "http://"},
      {{"deploy.edge.stats_timeout_sec=0"}, "deploy.edge.stats_timeout_sec", "> 0"},
      {{"deploy.edge.max_frames=-1"}, "deploy.edge.max_frames", ">= 0"},
      {{"deploy.edge.stream_endpoint=", "deploy.edge.mode=stream"}, "deploy.edge.stream_endpoint", "http://"},
      {{"deploy.edge.stream_timeout_sec=0"}, "deploy.edge.stream_timeout_sec", "> 0"},
      {{"deploy.edge.stream_push_stats=sometimes"}, "deploy.edge.stream_push_stats", "auto|always|never"},
      {{"deploy.edge.llm.base_url=", "deploy.edge.mode=llm", "deploy.edge.llm.model=m"}, "deploy.edge.llm.base_url", "http://"},
      {{"deploy.edge.llm.model=", "deploy.edge.mode=llm", "deploy.edge.llm.base_url=http://h/v1"}, "deploy.edge.llm.model", "must be set when"},
      {{"deploy.edge.llm.timeout_sec=0"}, "deploy.edge.llm.timeout_sec", "> 0"},
      {{"deploy.edge.llm.max_retries=-1"}, "deploy.edge.llm.max_retries", ">= 0"},
      {{"deploy.edge.llm.retry_backoff_sec=-1"}, "deploy.edge.llm.retry_backoff_sec", ">= 0"},
      {{"deploy.edge.llm.qps_limit=-1"}, "deploy.edge.llm.qps_limit", ">= 0"},
      {{"deploy.edge.llm.max_image_side=-1"}, "deploy.edge.llm.max_image_side", ">= 0"},
      {{"deploy.edge.llm.bbox_2d_scale=100"}, "deploy.edge.llm.bbox_2d_scale", "pixels|1000"},
      {{"deploy.edge.llm.class_aliases.auto=car"}, "deploy.edge.llm.class_aliases", "\"car\" is not in class_map.names"},
      {{"deploy.remote.source_id="}, "deploy.remote.source_id", "must not be empty"},
      {{"deploy.remote.listen_host="}, "deploy.remote.listen_host", "must not be empty"},
      {{"deploy.remote.listen_port=70000"}, "deploy.remote.listen_port", "[0, 65535]"},
      {{"deploy.remote.model="}, "deploy.remote.model", "ONNX model"},
      {{"deploy.remote.confidence=2"}, "deploy.remote.confidence", "[0, 1]"},
      {{"deploy.remote.stats_endpoint=udp://x"}, "deploy.remote.stats_endpoint", "http://"},
      {{"deploy.remote.stats_timeout_sec=0"}, "deploy.remote.stats_timeout_sec", "> 0"},
      {{"deploy.remote.max_payload_mb=0"}, "deploy.remote.max_payload_mb", "> 0"},
      {{"deploy.remote.max_image_pixels=0"}, "deploy.remote.max_image_pixels", "> 0"},
      {{"deploy.remote.max_inflight=-1"}, "deploy.remote.max_inflight", ">= 0"},
      {{"deploy.statistics.ack=maybe"}, "deploy.statistics.ack", "one of"},
      {{"statistics.spool_max_mb=0"}, "statistics.spool_max_mb", "> 0"},
      {{"deploy.remote.workers=-1"}, "deploy.remote.workers", ">= 0"},
      {{"deploy.statistics.ui_port=-1"}, "deploy.statistics.ui_port", "[0, 65535]"},
      {{"deploy.statistics.api_port=65536"}, "deploy.statistics.api_port", "[0, 65535]"},
      {{"deploy.statistics.storage=mysql"}, "deploy.statistics.storage", "sqlite|postgres"},
      {{"deploy.statistics.db_path=", "deploy.statistics.storage=sqlite"}, "deploy.statistics.db_path", "must be set when"},
      {{"deploy.statistics.postgres_url=", "deploy.statistics.storage=postgres"}, "deploy.statistics.postgres_url", "must be set when"},
      {{"deploy.statistics.public_host="}, "deploy.statistics.public_host", "must not be empty"},
      {{"deploy.statistics.rate_limit_per_sec=-1"}, "deploy.statistics.rate_limit_per_sec", ">= 0"},
      {{"deploy.statistics.retention_days=-1"}, "deploy.statistics.retention_days", ">= 0"},
      {{"statistics.flush_interval_sec=0"}, "statistics.flush_interval_sec", "> 0"},
  };
  return rows;
}

// A config that passes every rule, so each row breaks exactly one.
std::vector<std::string> valid_base() {
  return {"class_map.names=[a, b]",         "deploy.edge.images_dir=/data/images",
          "deploy.edge.local_model=/m.onnx", "deploy.remote.model=/m.onnx"};
}

}  // namespace

class ConfigRule : public testing::TestWithParam<BrokenRule> {};

TEST(ConfigRules, ValidBaseConfigPasses) {
  ConfigSources sources;
  sources.overrides = valid_base();
  auto config = Config::load(sources);
  ASSERT_TRUE(config) << config.error().message;
  const auto ok = vision::validate(*config);
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message);
}

TEST_P(ConfigRule, IsEnforcedWithAMessageNamingTheKey) {
  const BrokenRule& row = GetParam();
  ConfigSources sources;
  sources.overrides = valid_base();
  // Context first, then the breaking value, so the break wins.
  for (size_t i = 1; i < row.overrides.size(); ++i) sources.overrides.push_back(row.overrides[i]);
  sources.overrides.push_back(row.overrides[0]);
  auto config = Config::load(sources);
  ASSERT_TRUE(config) << config.error().message;
  const auto result = vision::validate(*config);
  ASSERT_FALSE(result) << row.overrides[0] << " passed validation";
  EXPECT_EQ(result.error().code, vision::ErrorCode::config);
  const std::string& message = result.error().message;
  EXPECT_NE(message.find(row.key + " = "), std::string::npos) << message;
  EXPECT_NE(message.find(row.words), std::string::npos) << message;
  // Only the broken rule fires.
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(EveryRule, ConfigRule, testing::ValuesIn(broken_rules()),
                         [](const testing::TestParamInfo<BrokenRule>& param) {
                           std::string name = param.param.key;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name + "_" + std::to_string(param.index);
                         });

TEST(ConfigRules, EveryRuleHasABrokenExample) {
  std::set<std::string> covered;
  for (const auto& row : broken_rules()) covered.insert(row.key);
  for (const auto& rule : vision::config_rules()) {
    EXPECT_TRUE(covered.contains(rule.key)) << "no test breaks the rule on " << rule.key;
  }
}

TEST(ConfigRules, ScopesLimitWhatIsChecked) {
  ConfigSources sources;
  sources.overrides = {"train.epochs=0", "deploy.edge.images_dir=/x", "deploy.edge.local_model=/m"};
  auto config = Config::load(sources);
  ASSERT_TRUE(config);
  const std::vector<std::string> deploy = {"app", "workspace", "deploy.edge"};
  EXPECT_TRUE(vision::validate(*config, deploy));
  const std::vector<std::string> train = {"train"};
  EXPECT_FALSE(vision::validate(*config, train));
}

TEST(ConfigRules, AllFailuresAreReportedTogether) {
  ConfigSources sources;
  sources.overrides = {"train.epochs=0", "train.batch_size=0"};
  auto config = Config::load(sources);
  ASSERT_TRUE(config);
  const std::vector<std::string> train = {"train"};
  const auto result = vision::validate(*config, train);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("train.epochs"), std::string::npos);
  EXPECT_NE(result.error().message.find("train.batch_size"), std::string::npos);
}

// The Python original's values keep working: its Faster R-CNN variant names (checked only when
// that backend runs, so a yolo run never fails on them) and Ultralytics' device "0".
namespace {

// The valid base config with `more` on top.
Config load(const std::vector<std::string>& more) {
  ConfigSources sources;
  sources.overrides = valid_base();
  sources.overrides.insert(sources.overrides.end(), more.begin(), more.end());
  auto config = Config::load(sources);
  EXPECT_TRUE(config) << config.error().message;
  return config.value_or(Config::defaults());
}

}  // namespace

TEST(ConfigRules, ValuesOfThePythonOriginalAreAccepted) {
  for (const char* variant : {"mobilenet_v3", "resnet50_fpn", "resnet50_fpn_v2", "resnet18_fpn", "resnet50"}) {
    for (const char* backend : {"yolo", "faster_rcnn"}) {
      const auto config = load({std::string("train.faster_rcnn.variant=") + variant, std::string("train.backend=") + backend});
      const auto ok = vision::validate(config, std::vector<std::string>{"train"});
      EXPECT_TRUE(ok) << variant << " " << backend << ": " << (ok ? "" : ok.error().message);
    }
  }
  const auto yolo = load({"train.faster_rcnn.variant=vgg", "train.backend=yolo"});
  EXPECT_TRUE(vision::validate(yolo, std::vector<std::string>{"train"})) << "a yolo run does not read the variant";
  for (const char* device : {"0", "3", "cuda:1", "cpu"}) {
    EXPECT_TRUE(vision::validate(load({std::string("train.device=") + device}), std::vector<std::string>{"train"})) << device;
  }
}

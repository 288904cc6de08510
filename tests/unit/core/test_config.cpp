// Config loading: defaults, merging a file onto them, --set overrides, and the errors that
// name the key, the value and a suggestion.
#include <gtest/gtest.h>

#include <toml++/toml.hpp>

#include "helpers/test_support.hpp"
#include "vision/core/config.hpp"

namespace fs = std::filesystem;
using vision::Config;
using vision::ConfigSources;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

vision::Expected<Config> load_text(const TempDir& dir, const std::string& text,
                                   std::vector<std::string> overrides = {},
                                   const std::string& relative = "config.toml") {
  write_text(dir / relative, text);
  ConfigSources sources;
  sources.config_file = dir / relative;
  sources.overrides = std::move(overrides);
  sources.cwd = dir.path();
  return Config::load(sources);
}

std::string error_of(const vision::Expected<Config>& result) {
  return result ? std::string("(loaded fine)") : result.error().message;
}

}  // namespace

TEST(Config, DefaultsCoverEverySection) {
  const Config config = Config::defaults("/srv/app");
  EXPECT_EQ(config.integer("app.schema_version"), 1);
  EXPECT_EQ(config.string("workspace.run_name"), "exp001");
  EXPECT_EQ(config.integer("train.img_size"), 640);
  EXPECT_EQ(config.string("export.quantize_mode"), "dynamic");
  EXPECT_DOUBLE_EQ(config.number("deploy.edge.fps_limit"), 10.0);
  EXPECT_EQ(config.integer("deploy.statistics.api_port"), 7797);
  EXPECT_TRUE(config.boolean("logging.jsonl"));
  EXPECT_EQ(config.root(), fs::path("/srv/app/work-dir"));
  EXPECT_EQ(config.path("data.yolo_dataset_dir"), fs::path("/srv/app/work-dir/datasets/yolo"));
}

TEST(Config, EveryKeyOfTheSpecIsInTheSchema) {
  const auto keys = vision::config_keys();
  for (const char* key :
       {"app.schema_version", "workspace.root", "workspace.run_name", "workspace.log_file",
        "workspace.log_level", "class_map.names", "class_map.id_map", "data.yolo_dataset_dir",
        "data.labeled_dir", "data.unlabeled_dir", "train.backend", "train.device", "train.seed",
        "train.epochs", "train.batch_size", "train.img_size", "train.dry_run", "train.yolo.weights",
        "train.faster_rcnn.variant", "train.faster_rcnn.lr", "train.faster_rcnn.momentum",
        "train.faster_rcnn.weight_decay", "train.faster_rcnn.num_workers",
        "train.faster_rcnn.max_samples", "export.onnx", "export.opset", "export.quantize",
        "export.quantize_mode", "export.calib_samples", "autolabel.mode", "autolabel.confidence",
        "autolabel.batch_size", "autolabel.visualize", "autolabel.on_conflict",
        "autolabel.model.onnx_model", "autolabel.model.backend", "autolabel.llm.base_url",
        "autolabel.llm.model", "autolabel.llm.api_key_env", "autolabel.llm.prompt",
        "autolabel.llm.timeout_sec", "autolabel.llm.max_retries", "autolabel.llm.retry_backoff_sec",
        "autolabel.llm.qps_limit", "autolabel.llm.max_images", "deploy.edge.source_id",
        "deploy.edge.mode", "deploy.edge.source", "deploy.edge.camera_id", "deploy.edge.video_path",
        "deploy.edge.images_dir", "deploy.edge.rtsp_url", "deploy.edge.fps_limit",
        "deploy.edge.jpeg_quality", "deploy.edge.confidence", "deploy.edge.local_model",
        "deploy.edge.stats_endpoint", "deploy.edge.api_key", "deploy.edge.stats_timeout_sec",
        "deploy.edge.save_annotated", "deploy.edge.max_frames", "deploy.edge.stream_endpoint",
        "deploy.edge.stream_timeout_sec", "deploy.edge.stream_api_key", "deploy.edge.stream_push_stats",
        "deploy.edge.llm.base_url",
        "deploy.edge.llm.model", "deploy.edge.llm.prompt", "deploy.remote.source_id",
        "deploy.remote.listen_host", "deploy.remote.listen_port", "deploy.remote.model",
        "deploy.remote.confidence", "deploy.remote.stats_endpoint", "deploy.remote.api_key",
        "deploy.remote.ingest_api_key", "deploy.remote.stats_timeout_sec",
        "deploy.remote.save_annotated", "deploy.remote.max_payload_mb", "deploy.remote.workers",
        "deploy.statistics.ui_port", "deploy.statistics.api_port", "deploy.statistics.storage",
        "deploy.statistics.db_path", "deploy.statistics.postgres_url",
        "deploy.statistics.public_host", "deploy.statistics.api_key",
        "deploy.statistics.rate_limit_per_sec", "logging.jsonl", "statistics.flush_interval_sec"}) {
    EXPECT_NE(std::ranges::find(keys, key), keys.end()) << key;
  }
}

TEST(Config, FileValuesMergeOntoDefaults) {
  TempDir dir;
  auto config = load_text(dir, "[train]\nepochs = 3\n[train.yolo]\nlr0 = 0.02\n");
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->integer("train.epochs"), 3);
  EXPECT_EQ(config->integer("train.batch_size"), 16);  // untouched default
  EXPECT_DOUBLE_EQ(config->number("train.yolo.lr0"), 0.02);
  EXPECT_TRUE(config->user_set("train.epochs"));
  EXPECT_FALSE(config->user_set("train.batch_size"));
}

TEST(Config, IntegerIsAcceptedForNumberKeys) {
  TempDir dir;
  auto config = load_text(dir, "[deploy.edge]\nfps_limit = 5\n");
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_DOUBLE_EQ(config->number("deploy.edge.fps_limit"), 5.0);
}

TEST(Config, UnknownKeyIsAnErrorWithSuggestion) {
  TempDir dir;
  auto config = load_text(dir, "[train]\nepoch = 3\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, vision::ErrorCode::config);
  EXPECT_NE(config.error().message.find("unknown key \"train.epoch\""), std::string::npos);
  EXPECT_NE(config.error().message.find("did you mean \"train.epochs\""), std::string::npos);
  EXPECT_NE(config.error().message.find((dir / "config.toml").string()), std::string::npos);
}

TEST(Config, UnknownSectionIsAnError) {
  TempDir dir;
  auto config = load_text(dir, "[deploy.edgee]\nmode = \"local\"\n");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("unknown key \"deploy.edgee\""), std::string::npos);
}

TEST(Config, WrongTypeNamesKeyAndValue) {
  TempDir dir;
  auto config = load_text(dir, "[train]\nepochs = \"many\"\n");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("train.epochs = \"many\": expected an integer"),
            std::string::npos)
      << config.error().message;
}

TEST(Config, FloatForIntegerKeyIsAnError) {
  TempDir dir;
  auto config = load_text(dir, "[train]\nbatch_size = 1.5\n");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("train.batch_size"), std::string::npos);
}

TEST(Config, InvalidTomlNamesFileAndLine) {
  TempDir dir;
  auto config = load_text(dir, "[train]\nepochs = = 3\n");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("config.toml:2:"), std::string::npos) << config.error().message;
}

TEST(Config, MissingConfigFileIsAnError) {
  ConfigSources sources;
  sources.config_file = "/nonexistent/config.toml";
  auto config = Config::load(sources);
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("/nonexistent/config.toml"), std::string::npos);
}

TEST(ConfigPaths, InsideWorkDirResolveAgainstItsParent) {
  TempDir dir;
  auto config = load_text(dir, "[data]\nyolo_dataset_dir = \"./work-dir/datasets/shapes\"\n", {},
                          "work-dir/config.toml");
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->path("data.yolo_dataset_dir"), dir / "work-dir/datasets/shapes");
  EXPECT_EQ(config->root(), dir / "work-dir");
}

TEST(ConfigPaths, ElsewhereResolveAgainstTheConfigFolder) {
  TempDir dir;
  auto config = load_text(dir, "[workspace]\nroot = \"wd\"\n[data]\nlabeled_dir = \"../out\"\n", {},
                          "conf/config.toml");
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->root(), dir / "conf/wd");
  EXPECT_EQ(config->path("data.labeled_dir"), dir / "out");
}

TEST(ConfigPaths, AbsoluteStaysAndEmptyMeansUnset) {
  TempDir dir;
  auto config = load_text(dir,
                          "[deploy.edge]\nvideo_path = \"/data/cam.mp4\"\nlocal_model = \"\"\n");
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->path("deploy.edge.video_path"), fs::path("/data/cam.mp4"));
  EXPECT_TRUE(config->path("deploy.edge.local_model").empty());
  EXPECT_TRUE(config->path("train.yolo.weights").empty());
}

TEST(ConfigPaths, WorkdirOverridesRootAndDefaultsFollowIt) {
  TempDir dir;
  write_text(dir / "config.toml", "[data]\nlabeled_dir = \"./mine\"\n");
  ConfigSources sources;
  sources.config_file = dir / "config.toml";
  sources.workdir = "elsewhere/wd";
  sources.cwd = "/home/user";
  auto config = Config::load(sources);
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->root(), fs::path("/home/user/elsewhere/wd"));
  // A default under ./work-dir/ follows the root; an explicit value keeps its meaning.
  EXPECT_EQ(config->path("data.yolo_dataset_dir"), fs::path("/home/user/elsewhere/wd/datasets/yolo"));
  EXPECT_EQ(config->path("deploy.statistics.db_path"), fs::path("/home/user/elsewhere/wd/stats/stats.db"));
  EXPECT_EQ(config->path("data.labeled_dir"), dir / "mine");
}

TEST(ConfigPaths, NoConfigFileResolvesAgainstCwd) {
  const Config config = Config::defaults("/opt/project");
  EXPECT_EQ(config.path("data.unlabeled_dir"), fs::path("/opt/project/work-dir/datasets/unlabeled"));
}

TEST(ConfigSet, StringKeysStayStrings) {
  TempDir dir;
  auto config = load_text(dir, "", {"train.device=0", "workspace.run_name=123"});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->string("train.device"), "0");
  EXPECT_EQ(config->string("workspace.run_name"), "123");
}

TEST(ConfigSet, ValuesAreTyped) {
  TempDir dir;
  auto config = load_text(dir, "",
                          {"train.epochs=7", "train.dry_run=true", "deploy.edge.fps_limit=2.5",
                           "deploy.edge.confidence=1", "class_map.names=[\"a\", \"b\"]"});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->integer("train.epochs"), 7);
  EXPECT_TRUE(config->boolean("train.dry_run"));
  EXPECT_DOUBLE_EQ(config->number("deploy.edge.fps_limit"), 2.5);
  EXPECT_DOUBLE_EQ(config->number("deploy.edge.confidence"), 1.0);
  EXPECT_EQ(config->strings("class_map.names"), (std::vector<std::string>{"a", "b"}));
}

TEST(ConfigSet, BareWordArrays) {
  TempDir dir;
  auto config = load_text(dir, "", {"class_map.names=[cat, dog]"});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->strings("class_map.names"), (std::vector<std::string>{"cat", "dog"}));
}

TEST(ConfigSet, AppliesInOrderAfterTheFile) {
  TempDir dir;
  auto config = load_text(dir, "[train]\nepochs = 3\n", {"train.epochs=4", "train.epochs=5"});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->integer("train.epochs"), 5);
}

TEST(ConfigSet, WrongTypeAndUnknownKeyAreErrors) {
  TempDir dir;
  auto wrong = load_text(dir, "", {"train.epochs=abc"});
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("train.epochs = \"abc\": expected an integer"), std::string::npos)
      << wrong.error().message;
  auto unknown = load_text(dir, "", {"train.lr0=0.1"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("did you mean \"train.yolo.lr0\""), std::string::npos)
      << unknown.error().message;
  auto malformed = load_text(dir, "", {"train.epochs"});
  ASSERT_FALSE(malformed);
  EXPECT_NE(malformed.error().message.find("key.path=value"), std::string::npos);
  auto section = load_text(dir, "", {"train=1"});
  ASSERT_FALSE(section);
  EXPECT_NE(section.error().message.find("is a section"), std::string::npos);
}

TEST(ConfigSet, IdMapEntries) {
  TempDir dir;
  auto config = load_text(dir, "[class_map]\nnames = [\"a\", \"b\"]\n", {"class_map.id_map.b=1", "class_map.id_map.a=0"});
  ASSERT_TRUE(config) << error_of(config);
  const auto id_map = config->int_map("class_map.id_map");
  ASSERT_EQ(id_map.size(), 2U);
}

TEST(ConfigSet, ClassAliasesFromFileSetAndInlineTable) {
  TempDir dir;
  auto config = load_text(dir,
                          "[class_map]\nnames = [\"car\", \"traffic light\"]\n"
                          "[autolabel.llm.class_aliases]\nautomobile = \"car\"\n\"stop light\" = \"traffic light\"\n",
                          {"autolabel.llm.class_aliases.sedan=car", "deploy.edge.llm.class_aliases={lorry = \"car\"}"});
  ASSERT_TRUE(config) << error_of(config);
  const auto aliases = config->string_map("autolabel.llm.class_aliases");
  ASSERT_EQ(aliases.size(), 3U);
  EXPECT_EQ(aliases[0], (std::pair<std::string, std::string>{"automobile", "car"}));
  EXPECT_EQ(aliases[1], (std::pair<std::string, std::string>{"sedan", "car"}));
  EXPECT_EQ(aliases[2], (std::pair<std::string, std::string>{"stop light", "traffic light"}));
  EXPECT_EQ(config->string_map("deploy.edge.llm.class_aliases").at(0).first, "lorry");
  EXPECT_TRUE(config->user_set("autolabel.llm.class_aliases"));
  const std::vector<std::string> llm_scopes = {"autolabel.llm", "deploy.edge.llm"};
  EXPECT_TRUE(vision::validate(*config, llm_scopes));
  // The resolved file keeps them.
  auto again = load_text(dir, config->to_toml(false), {}, "again/config.toml");
  ASSERT_TRUE(again) << error_of(again);
  EXPECT_EQ(again->string_map("autolabel.llm.class_aliases"), aliases);
}

TEST(ConfigSet, ClassAliasValuesMustBeStrings) {
  TempDir dir;
  auto in_file = load_text(dir, "[autolabel.llm.class_aliases]\nauto = 3\n");
  ASSERT_FALSE(in_file);
  EXPECT_NE(in_file.error().message.find("autolabel.llm.class_aliases.auto = 3: expected a string"), std::string::npos)
      << in_file.error().message;
  auto not_a_table = load_text(dir, "[autolabel.llm]\nclass_aliases = \"car\"\n");
  ASSERT_FALSE(not_a_table);
  EXPECT_NE(not_a_table.error().message.find("expected a table of alias = \"class name\""), std::string::npos)
      << not_a_table.error().message;
  auto inline_set = load_text(dir, "", {"autolabel.llm.class_aliases={auto = 1}"});
  ASSERT_FALSE(inline_set);
  EXPECT_NE(inline_set.error().message.find("expected a string (--set)"), std::string::npos) << inline_set.error().message;
  auto id_map = load_text(dir, "", {"class_map.id_map={a = \"x\"}"});
  ASSERT_FALSE(id_map);
  EXPECT_NE(id_map.error().message.find("class_map.id_map.a = \"x\": expected an integer (--set)"), std::string::npos)
      << id_map.error().message;
}

TEST(Config, IdMapIsFilledFromNames) {
  TempDir dir;
  auto config = load_text(dir, "[class_map]\nnames = [\"cat\", \"dog\"]\n");
  ASSERT_TRUE(config) << error_of(config);
  const auto id_map = config->int_map("class_map.id_map");
  ASSERT_EQ(id_map.size(), 2U);
  EXPECT_EQ(id_map[0], (std::pair<std::string, std::int64_t>{"cat", 0}));
  EXPECT_EQ(id_map[1], (std::pair<std::string, std::int64_t>{"dog", 1}));
}

TEST(ConfigResolved, RoundTripsMultiLinePromptsAndNonAsciiNames) {
  TempDir dir;
  const std::string prompt = "Line one \"quoted\"\nline two with a ''' and a \\ backslash\n\ttab";
  auto config = load_text(dir, "[class_map]\nnames = [\"żółw\", \"猫\", \"a b\"]\n",
                          {"deploy.edge.api_key=s3cret", "autolabel.llm.prompt=" + prompt});
  ASSERT_TRUE(config) << error_of(config);
  const std::string resolved = config->to_toml();
  toml::table parsed;
  ASSERT_NO_THROW(parsed = toml::parse(resolved)) << resolved;
  EXPECT_EQ(parsed.at_path("autolabel.llm.prompt").value<std::string>(), prompt);
  EXPECT_EQ(parsed.at_path("class_map.names[0]").value<std::string>(), "żółw");
  EXPECT_EQ(parsed.at_path("class_map.id_map").as_table()->size(), 3U);
  EXPECT_EQ(parsed.at_path("class_map.id_map").as_table()->get("猫")->value<std::int64_t>(), 1);

  // The resolved file is itself a valid config that loads to the same values.
  write_text(dir / "again/config.toml", config->to_toml(false));
  ConfigSources sources;
  sources.config_file = dir / "again/config.toml";
  auto again = Config::load(sources);
  ASSERT_TRUE(again) << error_of(again);
  EXPECT_EQ(again->string("autolabel.llm.prompt"), prompt);
  EXPECT_EQ(again->class_names(), config->class_names());
  EXPECT_EQ(again->root(), config->root());
  EXPECT_EQ(again->string("deploy.edge.api_key"), "s3cret");
}

TEST(ConfigResolved, SecretsAreRedacted) {
  TempDir dir;
  auto config = load_text(dir,
                          "[deploy.statistics]\napi_key = \"k-stats\"\n"
                          "postgres_url = \"postgresql://vision:pg-pass@db/vision\"\n"
                          "[deploy.remote]\ningest_api_key = \"k-ingest\"\n",
                          {"deploy.edge.stream_api_key=k-stream"});
  ASSERT_TRUE(config) << error_of(config);
  for (const std::string& text : {config->to_toml(), config->to_json().dump()}) {
    EXPECT_EQ(text.find("k-stats"), std::string::npos);
    EXPECT_EQ(text.find("k-ingest"), std::string::npos);
    EXPECT_EQ(text.find("k-stream"), std::string::npos);
    EXPECT_EQ(text.find("pg-pass"), std::string::npos);
    EXPECT_NE(text.find("***"), std::string::npos);
  }
  EXPECT_NE(config->to_toml().find("postgresql://vision:***@db/vision"), std::string::npos);
  // Unset secrets stay visibly unset, and the unredacted form keeps the values.
  EXPECT_NE(config->to_toml().find("api_key = \"\""), std::string::npos);
  EXPECT_NE(config->to_toml(false).find("k-stats"), std::string::npos);
}

TEST(ConfigExample, LoadsAndPassesEveryRule) {
  ConfigSources sources;
  sources.config_file = fs::path(VISION_SOURCE_DIR) / "work-dir/config.example.toml";
  auto config = Config::load(sources);
  ASSERT_TRUE(config) << error_of(config);
  const auto ok = vision::validate(*config);
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message);
  EXPECT_EQ(config->root(), fs::path(VISION_SOURCE_DIR) / "work-dir");
  EXPECT_EQ(config->string("export.quantize_mode"), "static");
}

TEST(ClosestMatch, SuggestsOnlyWhenClose) {
  const std::vector<std::string> candidates = {"train.epochs", "train.batch_size", "export.opset"};
  EXPECT_EQ(vision::closest_match("train.epoch", candidates), "train.epochs");
  EXPECT_EQ(vision::closest_match("train.batchsize", candidates), "train.batch_size");
  EXPECT_EQ(vision::closest_match("completely.different.words", candidates), "");
}

TEST(WorkdirLayout, CreatesEveryFolder) {
  TempDir dir;
  ASSERT_TRUE(vision::ensure_workdir_layout(dir / "wd"));
  for (const char* folder : {"datasets/yolo", "datasets/labeled", "datasets/unlabeled", "models",
                             "runs", "outputs", "stats", "tmp"}) {
    EXPECT_TRUE(fs::is_directory(dir / "wd" / folder)) << folder;
  }
}

#include "controlplane/config/provider_config.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#include "controlplane/config/did_you_mean.h"
#include "controlplane/config/cost_routing_config.h"
#include "controlplane/config/pricing_config.h"
#include "controlplane/config/value_checks.h"
#include "dataplane/common/secret.h"
#include "dataplane/providers/azure.h"
#include "dataplane/providers/vertex.h"
#include "dataplane/routing/model_pattern.h"

namespace ccrelay::controlplane {

namespace {

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();

// Types this build implements, with their default base_url.
struct ProviderType {
  std::string_view name;
  std::string_view default_base_url;
};
// The default base_url of bedrock, vertex and azure depends on other settings (aws_region,
// gcp_region, azure_resource_name).
constexpr std::array<ProviderType, 6> kSupportedTypes = {{
    {"anthropic", "https://api.anthropic.com"},
    {"zai", "https://api.z.ai/api/anthropic"},
    {"ollama", "http://localhost:11434"},
    {"bedrock", ""},
    {"vertex", ""},
    {"azure", ""},
}};
constexpr std::string_view kTypeList = "anthropic, zai, ollama, bedrock, vertex or azure";

const ProviderType* FindType(std::string_view name) {
  for (const ProviderType& t : kSupportedTypes) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

// Reads `type:`; nullptr (error reported) when missing, unknown or not built.
const ProviderType* ReadType(ConfigReader& reader, const Mapping& map) {
  const Field field = map.Get("type");
  if (!field.present) {
    reader.Error(field, absl::StrCat("required (", std::string(kTypeList), ")"));
    return nullptr;
  }
  std::optional<std::string> type = reader.String(field);
  if (!type.has_value()) {
    return nullptr;
  }
  if (const ProviderType* t = FindType(*type); t != nullptr) {
    return t;
  }
  std::vector<std::string_view> known;
  known.reserve(kSupportedTypes.size());
  for (const ProviderType& t : kSupportedTypes) {
    known.push_back(t.name);
  }
  reader.Error(field,
               absl::StrCat("unknown provider type ", ConfigReader::Quote(field, *type),
                            DidYouMeanSuffix(*type, known), "; expected ", std::string(kTypeList)));
  return nullptr;
}

std::optional<std::string> ReadName(ConfigReader& reader, const Mapping& map) {
  const Field field = map.Get("name");
  if (!field.present) {
    reader.Error(field, "required: every provider needs a unique name");
    return std::nullopt;
  }
  std::optional<std::string> name = reader.String(field);
  if (!name.has_value()) {
    return std::nullopt;
  }
  if (!IsValidProviderName(*name)) {
    reader.Error(field, absl::StrCat("invalid provider name ", ConfigReader::Quote(field, *name),
                                     ": use 1 to 64 of A-Z a-z 0-9 . _ -"));
    return std::nullopt;
  }
  return name;
}

void ReadModels(ConfigReader& reader, const Field& field, ccrelay::v1::Provider* p) {
  std::optional<std::vector<Field>> items = reader.List(field);
  if (!items.has_value()) {
    return;
  }
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < items->size() && !reader.stopped(); ++i) {
    const Field& item = (*items)[i];
    std::optional<std::string> model = reader.String(item);
    if (!model.has_value()) {
      continue;
    }
    if (model->empty()) {
      reader.Error(item, "model name must not be empty");
      continue;
    }
    if (auto [pos, inserted] = seen.emplace(*model, i); !inserted) {
      reader.Error(
          item, absl::StrCat("model ", ConfigReader::Quote(item, *model), " is already listed at ",
                             IndexPath(field.path, pos->second)));
      continue;
    }
    p->add_models(*std::move(model));
  }
}

void ReadModelMapping(ConfigReader& reader, const Field& field, ccrelay::v1::Provider* p) {
  std::optional<Mapping> map = reader.FreeMap(field);
  if (!map.has_value()) {
    return;
  }
  for (const Mapping::Entry& e : map->entries()) {
    if (absl::Status s = routing::ModelPattern::Validate(e.key); !s.ok()) {
      reader.Error(e.key_mark, e.value.path, std::string(s.message()));
      continue;
    }
    std::optional<std::string> to = reader.String(e.value);
    if (!to.has_value()) {
      continue;
    }
    if (to->empty()) {
      reader.Error(e.value, "the provider model name must not be empty");
      continue;
    }
    ccrelay::v1::ModelMapping* m = p->add_model_mapping();
    m->set_from(e.key);
    m->set_to(*std::move(to));
  }
}

// Reads one secret-valued string field; nullopt (error reported) when absent-but-required,
// not a string, empty or not plain text.
std::optional<std::string> ReadSecretString(ConfigReader& reader, const Field& field,
                                            bool required, std::string_view what) {
  if (!field.present) {
    if (required) {
      reader.Error(field, absl::StrCat("required: ", std::string(what)));
    }
    return std::nullopt;
  }
  std::optional<std::string> v = reader.String(field);
  if (!v.has_value()) {
    return std::nullopt;
  }
  if (v->empty()) {
    reader.Error(field, "must not be empty");
    return std::nullopt;
  }
  if (absl::Status s = CheckSecretText(*v); !s.ok()) {
    reader.Error(field, std::string(s.message()));
    return std::nullopt;
  }
  return v;
}

// A Bedrock key entry with IAM credentials (SigV4): the fingerprint is the access key id's.
bool ReadAwsKey(ConfigReader& reader, const Mapping& map, const Field& access_key_id,
                std::string_view provider_name, ccrelay::v1::Key* key) {
  std::optional<std::string> id =
      ReadSecretString(reader, access_key_id, true, "the AWS access key id");
  std::optional<std::string> secret =
      ReadSecretString(reader, map.GetSecret("aws_secret_access_key"), true,
                       "the AWS secret access key (e.g. \"${AWS_SECRET_ACCESS_KEY}\")");
  // An empty session token is none ("${AWS_SESSION_TOKEN:-}" with long-term credentials).
  const Field token_field = map.GetSecret("aws_session_token");
  std::optional<std::string> token;
  bool token_ok = true;
  if (token_field.present) {
    token = reader.String(token_field);
    token_ok = token.has_value();
    if (token_ok && !token->empty()) {
      if (absl::Status st = CheckSecretText(*token); !st.ok()) {
        reader.Error(token_field, std::string(st.message()));
        token_ok = false;
      }
    }
  }
  if (!id.has_value() || !secret.has_value() || !token_ok) {
    return false;
  }
  key->set_fingerprint(ccrelay::common::FingerprintOf(*id));
  key->set_id(absl::StrCat(std::string(provider_name), "/", key->fingerprint()));
  ccrelay::v1::AwsCredentials* aws = key->mutable_aws();
  aws->set_access_key_id(*std::move(id));
  aws->set_secret_access_key(*std::move(secret));
  aws->set_session_token(token.value_or(""));
  aws->set_source("config");
  return true;
}

struct ReadKeyResult {
  ccrelay::v1::Key key;
  Field secret_field;  // where `key:` was written
};

// Reads one `keys[i]` entry; nullopt when it has errors.
std::optional<ReadKeyResult> ReadKey(ConfigReader& reader, const Field& item,
                                     std::string_view provider_name, std::string_view type) {
  const bool bedrock = type == "bedrock";
  if (item.node.IsScalar()) {
    // Never echo: a bare scalar here is most likely the key itself.
    reader.Error(item,
                 "expected a mapping with a \"key\" field (write `- key: ...`), got a plain value");
    return std::nullopt;
  }
  std::vector<std::string_view> allowed = {"key",        "rpm_limit", "tpm_limit", "itpm_limit",
                                           "otpm_limit", "weight",    "enabled"};
  if (bedrock) {
    allowed.insert(allowed.end(),
                   {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"});
  }
  std::optional<Mapping> map = reader.Map(item, allowed);
  if (!map.has_value()) {
    return std::nullopt;
  }
  bool ok = true;
  ReadKeyResult out;
  ccrelay::v1::Key& key = out.key;
  out.secret_field = map->GetSecret("key");
  const Field& secret = out.secret_field;
  const Field access_key_id = map->GetSecret("aws_access_key_id");
  if (bedrock && access_key_id.present) {
    ok = ReadAwsKey(reader, *map, access_key_id, provider_name, &key);
    if (secret.present) {
      reader.Error(secret, "a key entry has either `key` (a Bedrock API key) or AWS credentials "
                           "(aws_access_key_id, aws_secret_access_key), not both");
      ok = false;
    }
    out.secret_field = access_key_id;
  } else if (bedrock && (map->Get("aws_secret_access_key").present ||
                         map->Get("aws_session_token").present)) {
    reader.Error(access_key_id, "required with aws_secret_access_key / aws_session_token");
    ok = false;
  } else if (!secret.present) {
    reader.Error(secret, bedrock ? "required: a Bedrock API key (`key: ${AWS_BEARER_TOKEN_BEDROCK}`) "
                                   "or aws_access_key_id and aws_secret_access_key"
                         : type == "vertex"
                             ? "required: a Google access token (e.g. \"${VERTEX_ACCESS_TOKEN}\")"
                         : type == "azure"
                             ? "required: the Foundry API key (e.g. \"${AZURE_API_KEY}\")"
                             : "required: the API key (e.g. \"${ANTHROPIC_API_KEY}\")");
    ok = false;
  } else if (std::optional<std::string> v = reader.String(secret); !v.has_value()) {
    ok = false;
  } else if (v->empty()) {
    reader.Error(secret, "must not be empty");
    ok = false;
  } else if (absl::Status s = CheckSecretText(*v); !s.ok()) {
    reader.Error(secret, std::string(s.message()));
    ok = false;
  } else {
    key.set_fingerprint(ccrelay::common::FingerprintOf(*v));
    key.set_id(absl::StrCat(std::string(provider_name), "/", key.fingerprint()));
    key.set_secret(*std::move(v));
  }
  struct Limit {
    std::string_view name;
    void (ccrelay::v1::Key::*set)(uint32_t);
  };
  const std::array<Limit, 4> limits = {{{"rpm_limit", &ccrelay::v1::Key::set_rpm_limit},
                                        {"tpm_limit", &ccrelay::v1::Key::set_tpm_limit},
                                        {"itpm_limit", &ccrelay::v1::Key::set_itpm_limit},
                                        {"otpm_limit", &ccrelay::v1::Key::set_otpm_limit}}};
  for (const Limit& limit : limits) {
    const Field f = map->Get(limit.name);
    std::optional<uint64_t> v = reader.Uint(f, kMaxU32);
    ok = ok && (v.has_value() || !f.present);
    (key.*limit.set)(static_cast<uint32_t>(v.value_or(0)));
  }
  const Field weight = map->Get("weight");
  std::optional<uint64_t> w = reader.Uint(weight, kMaxU32);
  if (weight.present && !w.has_value()) {
    ok = false;
  } else if (w.has_value() && *w == 0) {
    reader.Error(weight, "must be at least 1 (disable a key with enabled: false)");
    ok = false;
  }
  key.set_weight(static_cast<uint32_t>(w.value_or(1)));
  const Field enabled = map->Get("enabled");
  std::optional<bool> e = reader.Bool(enabled);
  ok = ok && (e.has_value() || !enabled.present);
  key.set_enabled(e.value_or(true));
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

// Reads `keys:` into `p` and reports duplicates. Returns false when any key had an error.
bool ReadKeys(ConfigReader& reader, const Field& field, ccrelay::v1::Provider* p) {
  std::optional<std::vector<Field>> items = reader.List(field);
  if (!items.has_value()) {
    return !field.present;
  }
  bool ok = true;
  struct Seen {
    size_t index;
    std::string secret;
  };
  std::unordered_map<std::string, Seen> seen;  // by fingerprint
  for (size_t i = 0; i < items->size() && !reader.stopped(); ++i) {
    // Items inherit `secret` from `keys`: a bare scalar item is probably a key pasted without
    // `key:`, and is never echoed.
    const Field& item = (*items)[i];
    std::optional<ReadKeyResult> read = ReadKey(reader, item, p->name(), p->type());
    if (!read.has_value()) {
      ok = false;
      continue;
    }
    const std::string& value =
        read->key.has_aws() ? read->key.aws().access_key_id() : read->key.secret();
    auto [pos, inserted] = seen.emplace(read->key.fingerprint(), Seen{i, value});
    if (!inserted) {
      const std::string first = IndexPath(field.path, pos->second.index);
      reader.Error(
          read->secret_field,
          pos->second.secret == value
              ? absl::StrCat("duplicate key: the same value as ", first)
              : absl::StrCat("two different keys share the fingerprint ", read->key.fingerprint(),
                             " with ", first, "; their ids would collide"));
      ok = false;
      continue;
    }
    *p->add_keys() = std::move(read->key);
  }
  return ok;
}

// Lowercase letters, digits and '-', not at either end, at most `max` characters: a cloud
// region ("us-east-1", "europe-west1") or an Azure resource name, safe in a host name.
bool IsLowerDnsLabel(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max || s.front() == '-' || s.back() == '-') {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// An AWS region name ("us-east-1", "eu-central-2", "us-gov-west-1"): safe in a host name and in
// a SigV4 scope.
bool IsValidAwsRegion(std::string_view region) { return IsLowerDnsLabel(region, 32); }

// Settings that only a provider of `type` has: on a provider of another type, each one present
// is an error. Returns true when the provider is of `type` (its settings are read).
bool OwnTypeSettings(ConfigReader& reader, const Mapping& map, bool is_type,
                     std::string_view type, std::initializer_list<std::string_view> keys) {
  if (is_type) {
    return true;
  }
  for (std::string_view key : keys) {
    if (const Field f = map.GetSecret(key); f.present) {
      reader.Error(f, absl::StrCat("only a provider of type: ", std::string(type),
                                   " has this setting"));
    }
  }
  return false;
}

// An endpoint URL setting (credential endpoints), normalised like base_url into `out`.
void ReadEndpoint(ConfigReader& reader, const Field& f, std::string* out) {
  std::optional<std::string> v = reader.String(f);
  if (!v.has_value()) {
    return;
  }
  absl::StatusOr<std::string> normalized = NormalizeBaseUrl(*v);
  if (!normalized.ok()) {
    reader.Error(f, absl::StrCat(normalized.status().message(), ", got ",
                                 ConfigReader::Quote(f, *v)));
    return;
  }
  *out = *std::move(normalized);
}

// A path setting, relative ones resolved against the config file's directory.
std::string ResolvePath(const std::string& base_dir, const std::string& value) {
  std::filesystem::path path(value);
  if (path.is_relative() && !base_dir.empty()) {
    path = (std::filesystem::path(base_dir) / path).lexically_normal();
  }
  return path.string();
}

// aws_region (required for bedrock), aws_profile and the credential endpoints (bedrock only).
void ReadAwsSettings(ConfigReader& reader, const Mapping& map, bool bedrock,
                     ccrelay::v1::Provider* p) {
  const Field region = map.Get("aws_region");
  if (!OwnTypeSettings(reader, map, bedrock, "bedrock",
                       {"aws_region", "aws_profile", "aws_sts_endpoint", "aws_imds_endpoint"})) {
    return;
  }
  if (!region.present) {
    reader.Error(region, "required for type: bedrock (the AWS region, e.g. us-east-1)");
  } else if (std::optional<std::string> v = reader.String(region); v.has_value()) {
    if (!IsValidAwsRegion(*v)) {
      reader.Error(region, absl::StrCat("not an AWS region name: ",
                                        ConfigReader::Quote(region, *v), " (e.g. us-east-1)"));
    } else {
      p->set_aws_region(*std::move(v));
    }
  }
  if (std::optional<std::string> v = reader.String(map.Get("aws_profile")); v.has_value()) {
    p->set_aws_profile(*std::move(v));
  }
  ReadEndpoint(reader, map.Get("aws_sts_endpoint"), p->mutable_aws_sts_endpoint());
  ReadEndpoint(reader, map.Get("aws_imds_endpoint"), p->mutable_aws_imds_endpoint());
}

// A Google Cloud project id: lowercase letters, digits, '-', and for domain-scoped projects '.'
// and ':' ("example.com:my-project"); it goes into the request path as is.
bool IsValidGcpProject(std::string_view project) {
  if (project.empty() || project.size() > 100) {
    return false;
  }
  return std::all_of(project.begin(), project.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
  });
}

// gcp_project_id and gcp_region (required for vertex), the token settings (vertex only).
void ReadGcpSettings(ConfigReader& reader, const Mapping& map, bool vertex,
                     const std::string& base_dir, ccrelay::v1::Provider* p) {
  if (!OwnTypeSettings(reader, map, vertex, "vertex",
                       {"gcp_project_id", "gcp_region", "gcp_credentials_file",
                        "gcp_token_endpoint", "gcp_metadata_endpoint"})) {
    return;
  }
  const Field project = map.Get("gcp_project_id");
  if (!project.present) {
    reader.Error(project,
                 "required for type: vertex (the Google Cloud project id, e.g. my-project)");
  } else if (std::optional<std::string> v = reader.String(project); v.has_value()) {
    if (!IsValidGcpProject(*v)) {
      reader.Error(project, absl::StrCat("not a Google Cloud project id: ",
                                         ConfigReader::Quote(project, *v),
                                         " (lowercase letters, digits and '-', e.g. my-project)"));
    } else {
      p->set_gcp_project_id(*std::move(v));
    }
  }
  const Field region = map.Get("gcp_region");
  if (!region.present) {
    reader.Error(region, "required for type: vertex (global, us, eu or a region such as us-east5)");
  } else if (std::optional<std::string> v = reader.String(region); v.has_value()) {
    if (!IsLowerDnsLabel(*v, 32)) {
      reader.Error(region,
                   absl::StrCat("not a Vertex AI location: ", ConfigReader::Quote(region, *v),
                                " (global, us, eu or a region such as us-east5)"));
    } else {
      p->set_gcp_region(*std::move(v));
    }
  }
  ccrelay::v1::TokenSource* ts = p->mutable_token_source();
  const Field file = map.Get("gcp_credentials_file");
  if (std::optional<std::string> v = reader.String(file); v.has_value()) {
    const std::string path = ResolvePath(base_dir, *v);
    if (v->empty()) {
      reader.Error(file, "must not be empty (leave it out for Application Default Credentials)");
    } else if (absl::Status st = CheckReadableFile(path); !st.ok()) {
      reader.Error(file, absl::StrCat(st.message(), ": ", ConfigReader::Quote(file, path)));
    } else {
      ts->set_gcp_credentials_file(path);
    }
  }
  ReadEndpoint(reader, map.Get("gcp_token_endpoint"), ts->mutable_gcp_token_endpoint());
  ReadEndpoint(reader, map.Get("gcp_metadata_endpoint"), ts->mutable_gcp_metadata_endpoint());
}

// An Entra ID tenant or client id: a GUID or a domain name (letters, digits, '-', '.').
bool IsValidEntraId(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

// azure_resource_name and the Entra ID settings (azure only).
void ReadAzureSettings(ConfigReader& reader, const Mapping& map, bool azure,
                       const std::string& base_dir, ccrelay::v1::Provider* p) {
  if (!OwnTypeSettings(reader, map, azure, "azure",
                       {"azure_resource_name", "azure_auth", "azure_tenant_id", "azure_client_id",
                        "azure_client_secret", "azure_federated_token_file",
                        "azure_authority_host", "azure_imds_endpoint", "azure_scope"})) {
    return;
  }
  const Field resource = map.Get("azure_resource_name");
  if (std::optional<std::string> v = reader.String(resource); v.has_value()) {
    if (!IsLowerDnsLabel(*v, 64)) {
      reader.Error(resource,
                   absl::StrCat("not an Azure resource name: ", ConfigReader::Quote(resource, *v),
                                " (lowercase letters, digits and '-')"));
    } else {
      p->set_azure_resource_name(*std::move(v));
    }
  }
  ccrelay::v1::TokenSource* ts = p->mutable_token_source();
  const Field auth = map.Get("azure_auth");
  if (std::optional<std::string> v =
          reader.Enum(auth, {"managed_identity", "client_secret", "workload_identity"});
      v.has_value()) {
    ts->set_azure_auth(*std::move(v));
  }
  struct Id {
    std::string_view key;
    std::string* value;
  };
  for (const Id& id : {Id{"azure_tenant_id", ts->mutable_azure_tenant_id()},
                       Id{"azure_client_id", ts->mutable_azure_client_id()}}) {
    const Field f = map.Get(id.key);
    if (std::optional<std::string> v = reader.String(f); v.has_value()) {
      if (!IsValidEntraId(*v)) {
        reader.Error(f, absl::StrCat("not an Entra ID id: ", ConfigReader::Quote(f, *v),
                                     " (a GUID or a domain name)"));
      } else {
        *id.value = *std::move(v);
      }
    }
  }
  if (std::optional<std::string> v = ReadSecretString(reader, map.GetSecret("azure_client_secret"),
                                                      false, "the client secret");
      v.has_value()) {
    ts->set_azure_client_secret(*std::move(v));
  }
  const Field token_file = map.Get("azure_federated_token_file");
  if (std::optional<std::string> v = reader.String(token_file); v.has_value()) {
    if (v->empty()) {
      reader.Error(token_file, "must not be empty");
    } else {
      // Not checked here: a projected token file may appear after the relay starts.
      ts->set_azure_federated_token_file(ResolvePath(base_dir, *v));
    }
  }
  ReadEndpoint(reader, map.Get("azure_authority_host"), ts->mutable_azure_authority_host());
  ReadEndpoint(reader, map.Get("azure_imds_endpoint"), ts->mutable_azure_imds_endpoint());
  const Field scope = map.Get("azure_scope");
  if (std::optional<std::string> v = reader.String(scope); v.has_value()) {
    if (v->empty() || v->find_first_of(" \t\r\n") != std::string::npos) {
      reader.Error(scope, "must be one scope, e.g. https://ai.azure.com/.default");
    } else {
      ts->set_azure_scope(*std::move(v));
    }
  }
}

// The token settings written for a provider, in file order of the keys checked: with keys, the
// provider uses them and these would be ignored, so they are an error.
void RejectTokenSettingsWithKeys(ConfigReader& reader, const Mapping& map,
                                 const ccrelay::v1::Provider& p) {
  if (p.keys_size() == 0) {
    return;
  }
  for (std::string_view key :
       {"gcp_credentials_file", "gcp_token_endpoint", "gcp_metadata_endpoint", "azure_auth",
        "azure_tenant_id", "azure_client_id", "azure_client_secret", "azure_federated_token_file",
        "azure_authority_host", "azure_imds_endpoint", "azure_scope"}) {
    if (const Field f = map.GetSecret(key); f.present) {
      reader.Error(f, "a provider with keys uses them: token settings apply only to a provider "
                      "without keys");
    }
  }
}

// A beta name as it may appear in an anthropic-beta header item.
bool IsValidBetaName(std::string_view beta) {
  if (beta.empty() || beta.size() > 128) {
    return false;
  }
  return std::all_of(beta.begin(), beta.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// providers[].betas: {allow: [...], deny: [...], rename: {from: to}}.
void ReadBetas(ConfigReader& reader, const Field& field, ccrelay::v1::Provider* p) {
  if (!field.present) {
    return;
  }
  std::optional<Mapping> map = reader.Map(field, {"allow", "deny", "rename"});
  if (!map.has_value()) {
    return;
  }
  ccrelay::v1::BetaPolicy* policy = p->mutable_betas();
  auto read_name = [&](const Field& f, std::string_view text) {
    if (!IsValidBetaName(text)) {
      reader.Error(f, absl::StrCat("not a beta name: ", ConfigReader::Quote(f, text),
                                   " (letters, digits, '-', '_', '.', e.g. "
                                   "context-1m-2025-08-07)"));
      return false;
    }
    return true;
  };
  std::unordered_map<std::string, std::string> listed;  // lower-case name -> "allow" / "deny"
  for (std::string_view list : {"allow", "deny"}) {
    const Field lf = map->Get(list);
    std::optional<std::vector<Field>> items = reader.List(lf);
    if (!items.has_value()) {
      continue;
    }
    for (const Field& item : *items) {
      std::optional<std::string> v = reader.String(item);
      if (!v.has_value() || !read_name(item, *v)) {
        continue;
      }
      const std::string lower = absl::AsciiStrToLower(*v);
      if (auto [pos, inserted] = listed.emplace(lower, std::string(list)); !inserted) {
        reader.Error(item, absl::StrCat(ConfigReader::Quote(item, *v), " is already in ",
                                        pos->second));
        continue;
      }
      if (list == "allow") {
        policy->add_allow(*std::move(v));
      } else {
        policy->add_deny(*std::move(v));
      }
    }
  }
  std::optional<Mapping> rename = reader.FreeMap(map->Get("rename"));
  if (rename.has_value()) {
    for (const Mapping::Entry& e : rename->entries()) {
      if (!IsValidBetaName(e.key)) {
        reader.Error(e.key_mark, e.value.path,
                     absl::StrCat("not a beta name: \"", e.key, "\""));
        continue;
      }
      std::optional<std::string> to = reader.String(e.value);
      if (!to.has_value() || !read_name(e.value, *to)) {
        continue;
      }
      ccrelay::v1::BetaPolicy::Rename* r = policy->add_rename();
      r->set_from(e.key);
      r->set_to(*std::move(to));
    }
  }
}

// Reads one provider; nullopt when it has no usable name.
std::optional<ReadProvider> ReadOneProvider(ConfigReader& reader, const Field& item,
                                            const std::string& base_dir) {
  std::optional<Mapping> map =
      reader.Map(item, {"name",
                        "type",
                        "enabled",
                        "base_url",
                        "ca_file",
                        "weight",
                        "models",
                        "keys",
                        "model_mapping",
                        "pricing",
                        "betas",
                        "context_window",
                        "tier",
                        "capabilities",
                        "aws_region",
                        "aws_profile",
                        "aws_sts_endpoint",
                        "aws_imds_endpoint",
                        "gcp_project_id",
                        "gcp_region",
                        "gcp_credentials_file",
                        "gcp_token_endpoint",
                        "gcp_metadata_endpoint",
                        "azure_resource_name",
                        "azure_auth",
                        "azure_tenant_id",
                        "azure_client_id",
                        "azure_client_secret",
                        "azure_federated_token_file",
                        "azure_authority_host",
                        "azure_imds_endpoint",
                        "azure_scope"});
  if (!map.has_value()) {
    return std::nullopt;
  }
  ReadProvider out;
  ccrelay::v1::Provider& p = out.provider;
  out.name_field = map->Get("name");
  std::optional<std::string> name = ReadName(reader, *map);
  const ProviderType* type = ReadType(reader, *map);
  if (name.has_value()) {
    p.set_name(*name);
  }
  if (type != nullptr) {
    p.set_type(std::string(type->name));
  }
  p.set_enabled(reader.Bool(map->Get("enabled")).value_or(true));
  const std::string_view type_name = type != nullptr ? type->name : std::string_view();
  ReadAwsSettings(reader, *map, type_name == "bedrock", &p);
  ReadGcpSettings(reader, *map, type_name == "vertex", base_dir, &p);
  ReadAzureSettings(reader, *map, type_name == "azure", base_dir, &p);

  const Field url = map->Get("base_url");
  if (std::optional<std::string> v = reader.String(url); v.has_value()) {
    absl::StatusOr<std::string> normalized = NormalizeBaseUrl(*v);
    if (!normalized.ok()) {
      reader.Error(
          url, absl::StrCat(normalized.status().message(), ", got ", ConfigReader::Quote(url, *v)));
    } else {
      p.set_base_url(*std::move(normalized));
    }
  } else if (!url.present && type_name == "bedrock") {
    p.set_base_url(BedrockDefaultBaseUrl(p.aws_region()));
  } else if (!url.present && type_name == "vertex") {
    if (!p.gcp_region().empty()) {
      p.set_base_url(providers::VertexDefaultBaseUrl(p.gcp_region()));
    }
  } else if (!url.present && type_name == "azure") {
    if (!p.azure_resource_name().empty()) {
      p.set_base_url(providers::AzureDefaultBaseUrl(p.azure_resource_name()));
    } else if (const Field r = map->Get("azure_resource_name"); !r.present) {
      reader.Error(r, "required for type: azure unless base_url is given (the Foundry resource: "
                      "https://<azure_resource_name>.services.ai.azure.com/anthropic)");
    }
  } else if (!url.present && type != nullptr) {
    p.set_base_url(std::string(type->default_base_url));
  }
  if (type_name == "azure" && url.present) {
    if (const Field r = map->Get("azure_resource_name"); r.present) {
      reader.Error(r, "give azure_resource_name or base_url, not both");
      p.clear_azure_resource_name();
    }
  }

  const Field ca = map->Get("ca_file");
  if (std::optional<std::string> v = reader.String(ca); v.has_value() && !v->empty()) {
    const std::string path = ResolvePath(base_dir, *v);
    if (absl::Status s = CheckCaFile(path); !s.ok()) {
      reader.Error(ca, absl::StrCat(s.message(), ": ", ConfigReader::Quote(ca, path)));
    } else {
      p.set_ca_file(path);
    }
  }

  ReadModels(reader, map->Get("models"), &p);
  // Secret: `keys: sk-...` (a key written where the list belongs) must not be echoed.
  const Field keys = map->GetSecret("keys");
  const bool keys_ok = ReadKeys(reader, keys, &p);
  ReadModelMapping(reader, map->Get("model_mapping"), &p);
  ReadPricing(reader, map->Get("pricing"), &p);
  ReadBetas(reader, map->Get("betas"), &p);
  ReadProviderFit(reader, *map, &p);
  if (type_name == "vertex" || type_name == "azure") {
    RejectTokenSettingsWithKeys(reader, *map, p);
  }

  if (type != nullptr && type->name == "zai" && keys_ok) {
    bool any_enabled = false;
    for (const ccrelay::v1::Key& k : p.keys()) {
      any_enabled = any_enabled || k.enabled();
    }
    if (p.keys_size() == 0) {
      reader.Error(keys, "a zai provider requires at least one key");
    } else if (!any_enabled && p.enabled()) {
      reader.Error(keys, "every key is disabled; an enabled zai provider needs an enabled key");
    }
  }

  const Field weight = map->Get("weight");
  uint64_t provider_weight = reader.Uint(weight, kMaxU32).value_or(0);
  if (provider_weight == 0) {
    for (const ccrelay::v1::Key& k : p.keys()) {
      if (k.enabled()) {
        provider_weight += k.weight();
      }
    }
    provider_weight = std::clamp<uint64_t>(provider_weight, 1, kMaxU32);
  }
  p.set_weight(static_cast<uint32_t>(provider_weight));

  if (!name.has_value()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::vector<ReadProvider> ReadProviders(ConfigReader& reader, const Field& field,
                                        const std::string& base_dir) {
  std::vector<ReadProvider> out;
  std::optional<std::vector<Field>> items = reader.List(field);
  if (items.has_value()) {
    std::unordered_map<std::string, size_t> seen;  // name -> index in `out`
    for (size_t i = 0; i < items->size() && !reader.stopped(); ++i) {
      std::optional<ReadProvider> p = ReadOneProvider(reader, (*items)[i], base_dir);
      if (!p.has_value()) {
        continue;
      }
      auto [pos, inserted] = seen.emplace(p->provider.name(), out.size());
      if (!inserted) {
        const ReadProvider& first = out[pos->second];
        reader.Error(
            p->name_field,
            absl::StrCat("duplicate provider name ",
                         ConfigReader::Quote(p->name_field, p->provider.name()),
                         " (first defined at line ", MarkLine(first.name_field.mark), ")"));
        continue;
      }
      out.push_back(*std::move(p));
    }
  }
  if (!reader.stopped() && (!field.present || items.has_value())) {
    bool any_enabled = false;
    for (const ReadProvider& p : out) {
      any_enabled = any_enabled || p.provider.enabled();
    }
    // Not reported when the list itself was unreadable or an entry lost its name: that error
    // already explains it.
    if (!any_enabled && (out.size() == (items.has_value() ? items->size() : 0))) {
      reader.Error(field, "at least one enabled provider is required");
    }
  }
  return out;
}

std::string BedrockDefaultBaseUrl(std::string_view region) {
  return absl::StrCat("https://bedrock-runtime.", std::string(region), ".amazonaws.com");
}

ccrelay::v1::Provider DefaultAnthropicProvider() {
  ccrelay::v1::Provider p;
  p.set_name("anthropic");
  p.set_type("anthropic");
  p.set_enabled(true);
  p.set_base_url("https://api.anthropic.com");
  p.set_weight(1);
  return p;
}

}  // namespace ccrelay::controlplane

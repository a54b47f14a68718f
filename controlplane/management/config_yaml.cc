#include "controlplane/management/config_yaml.h"

#include "proto/snapshot.pb.h"

#include "controlplane/snapshot/snapshot_lookup.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"
#include "yaml-cpp/yaml.h"

namespace ccrelay::controlplane {
namespace {

using ccrelay::v1::Key;
using ccrelay::v1::Provider;

// yaml-cpp's Emitter reports problems through its state, not exceptions, for what we write.
void Timeouts(YAML::Emitter& out, const ccrelay::v1::Timeouts& t) {
  out << YAML::Key << "timeouts" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "connect_ms" << YAML::Value << t.connect_ms();
  out << YAML::Key << "first_byte_ms" << YAML::Value << t.first_byte_ms();
  out << YAML::Key << "first_byte_non_stream_ms" << YAML::Value << t.first_byte_non_stream_ms();
  out << YAML::Key << "idle_ms" << YAML::Value << t.idle_ms();
  out << YAML::Key << "total_ms" << YAML::Value << t.total_ms();
  out << YAML::Key << "request_header_ms" << YAML::Value << t.request_header_ms();
  out << YAML::Key << "request_body_ms" << YAML::Value << t.request_body_ms();
  out << YAML::Key << "keepalive_ms" << YAML::Value << t.keepalive_ms();
  out << YAML::Key << "drain_ms" << YAML::Value << t.drain_ms();
  out << YAML::Key << "upstream_idle_pool_ms" << YAML::Value << t.upstream_idle_pool_ms();
  out << YAML::EndMap;
}

}  // namespace

std::string RedactedSecret(const std::string& secret) {
  return common::StrCat("<redacted fingerprint=", common::FingerprintOf(secret), ">");
}

namespace {

// routing.background_models and routing.rules, as the config file writes them.
void WriteRoutingRules(YAML::Emitter& out, const ccrelay::v1::Routing& r) {
  auto flow_list = [&out](const auto& items) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const std::string& i : items) {
      out << i;
    }
    out << YAML::EndSeq;
  };
  out << YAML::Key << "background_models" << YAML::Value;
  flow_list(r.background_models());
  if (r.rules_size() == 0) {
    return;
  }
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  for (const auto& rule : r.rules()) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << rule.name();
    const auto& m = rule.match();
    out << YAML::Key << "match" << YAML::Value << YAML::BeginMap;
    if (m.models_size() > 0) {
      out << YAML::Key << "model" << YAML::Value;
      flow_list(m.models());
    }
    if (m.has_background()) {
      out << YAML::Key << "background" << YAML::Value << m.background();
    }
    if (m.has_thinking()) {
      out << YAML::Key << "thinking" << YAML::Value << m.thinking();
    }
    if (m.long_context() != 0) {
      out << YAML::Key << "long_context" << YAML::Value << m.long_context();
    }
    if (m.tools_size() > 0) {
      out << YAML::Key << "tools" << YAML::Value;
      flow_list(m.tools());
    }
    if (m.has_images()) {
      out << YAML::Key << "images" << YAML::Value << m.images();
    }
    if (m.headers_size() > 0) {
      out << YAML::Key << "header" << YAML::Value << YAML::BeginMap;
      for (const auto& h : m.headers()) {
        out << YAML::Key << h.name() << YAML::Value << h.value();
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
    out << YAML::Key << "providers" << YAML::Value;
    flow_list(rule.providers());
    if (!rule.model().empty()) {
      out << YAML::Key << "model" << YAML::Value << rule.model();
    }
    if (!rule.strategy().empty()) {
      out << YAML::Key << "strategy" << YAML::Value << rule.strategy();
    }
    out << YAML::Key << "fallback" << YAML::Value << (!rule.has_fallback() || rule.fallback());
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

}  // namespace

std::string RedactedConfigYaml(const ccrelay::v1::RoutingSnapshot& s,
                               const ccrelay::v1::RoutingSnapshot& config) {
  YAML::Emitter out;
  out << YAML::Comment(common::StrCat("effective config (", s.source(), ", snapshot version ",
                                      s.version(), "); secrets redacted"));
  out << YAML::BeginMap;

  const auto& srv = s.server();
  out << YAML::Key << "server" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << srv.listen();
  out << YAML::Key << "workers" << YAML::Value << srv.workers();
  out << YAML::Key << "max_body_bytes" << YAML::Value << srv.max_body_bytes();
  out << YAML::Key << "max_header_bytes" << YAML::Value << srv.max_header_bytes();
  Timeouts(out, srv.timeouts());
  const auto& auth = srv.auth();
  out << YAML::Key << "auth" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "api_key" << YAML::Value
      << (auth.api_key().empty() ? std::string() : RedactedSecret(auth.api_key()));
  out << YAML::Key << "allow_subscription" << YAML::Value << auth.allow_subscription();
  out << YAML::Key << "allow_bearer" << YAML::Value << auth.allow_bearer();
  out << YAML::Key << "bearer_secret" << YAML::Value
      << (auth.bearer_secret().empty() ? std::string() : RedactedSecret(auth.bearer_secret()));
  out << YAML::EndMap;
  out << YAML::EndMap;

  out << YAML::Key << "logging" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "level" << YAML::Value << s.logging().level();
  out << YAML::Key << "format" << YAML::Value << s.logging().format();
  out << YAML::EndMap;

  out << YAML::Key << "providers" << YAML::Value << YAML::BeginSeq;
  for (const Provider& p : s.providers()) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << p.name();
    out << YAML::Key << "type" << YAML::Value << p.type();
    out << YAML::Key << "enabled" << YAML::Value << p.enabled();
    // An azure provider names its resource or its base_url, not both (the one derives the other).
    if (p.type() != "azure" || p.azure_resource_name().empty()) {
      out << YAML::Key << "base_url" << YAML::Value << p.base_url();
    }
    if (!p.ca_file().empty()) {
      out << YAML::Key << "ca_file" << YAML::Value << p.ca_file();
    }
    out << YAML::Key << "weight" << YAML::Value << p.weight();
    out << YAML::Key << "models" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& m : p.models()) {
      out << m;
    }
    out << YAML::EndSeq;
    if (p.type() == "bedrock") {
      out << YAML::Key << "aws_region" << YAML::Value << p.aws_region();
      for (const auto& [key, value] : {std::pair<const char*, const std::string*>{
                                           "aws_profile", &p.aws_profile()},
                                       {"aws_sts_endpoint", &p.aws_sts_endpoint()},
                                       {"aws_imds_endpoint", &p.aws_imds_endpoint()}}) {
        if (!value->empty()) {
          out << YAML::Key << key << YAML::Value << *value;
        }
      }
    }
    if (p.type() == "vertex") {
      out << YAML::Key << "gcp_project_id" << YAML::Value << p.gcp_project_id();
      out << YAML::Key << "gcp_region" << YAML::Value << p.gcp_region();
    }
    if (p.type() == "azure" && !p.azure_resource_name().empty()) {
      out << YAML::Key << "azure_resource_name" << YAML::Value << p.azure_resource_name();
    }
    const ccrelay::v1::TokenSource& ts = p.token_source();
    for (const auto& [key, value] :
         {std::pair<const char*, const std::string*>{"gcp_credentials_file",
                                                     &ts.gcp_credentials_file()},
          {"gcp_token_endpoint", &ts.gcp_token_endpoint()},
          {"gcp_metadata_endpoint", &ts.gcp_metadata_endpoint()},
          {"azure_auth", &ts.azure_auth()},
          {"azure_tenant_id", &ts.azure_tenant_id()},
          {"azure_client_id", &ts.azure_client_id()},
          {"azure_federated_token_file", &ts.azure_federated_token_file()},
          {"azure_authority_host", &ts.azure_authority_host()},
          {"azure_imds_endpoint", &ts.azure_imds_endpoint()},
          {"azure_scope", &ts.azure_scope()}}) {
      if (!value->empty()) {
        out << YAML::Key << key << YAML::Value << *value;
      }
    }
    if (!ts.azure_client_secret().empty()) {
      out << YAML::Key << "azure_client_secret" << YAML::Value
          << RedactedSecret(ts.azure_client_secret());
    }
    if (p.has_betas() && (p.betas().allow_size() > 0 || p.betas().deny_size() > 0 ||
                          p.betas().rename_size() > 0)) {
      out << YAML::Key << "betas" << YAML::Value << YAML::BeginMap;
      for (const auto& [key, list] :
           {std::pair<const char*, const google::protobuf::RepeatedPtrField<std::string>*>{
                "allow", &p.betas().allow()},
            {"deny", &p.betas().deny()}}) {
        if (!list->empty()) {
          out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
          for (const std::string& b : *list) {
            out << b;
          }
          out << YAML::EndSeq;
        }
      }
      if (p.betas().rename_size() > 0) {
        out << YAML::Key << "rename" << YAML::Value << YAML::BeginMap;
        for (const auto& r : p.betas().rename()) {
          out << YAML::Key << r.from() << YAML::Value << r.to();
        }
        out << YAML::EndMap;
      }
      out << YAML::EndMap;
    }
    if (p.model_mapping_size() > 0) {
      out << YAML::Key << "model_mapping" << YAML::Value << YAML::BeginMap;
      for (const auto& m : p.model_mapping()) {
        out << YAML::Key << m.from() << YAML::Value << m.to();
      }
      out << YAML::EndMap;
    }
    out << YAML::Key << "keys" << YAML::Value << YAML::BeginSeq;
    for (const Key& k : p.keys()) {
      if (k.oauth_token()) {
        continue;  // a token the control plane minted is not configuration
      }
      out << YAML::BeginMap;
      if (k.has_aws()) {
        // IAM credentials: the access key id's fingerprint is the key's.
        out << YAML::Key << "aws_access_key_id" << YAML::Value
            << RedactedSecret(k.aws().access_key_id());
        out << YAML::Key << "aws_secret_access_key" << YAML::Value << "<redacted>";
        if (!k.aws().session_token().empty()) {
          out << YAML::Key << "aws_session_token" << YAML::Value << "<redacted>";
        }
      } else {
        out << YAML::Key << "key" << YAML::Value << RedactedSecret(k.secret());
      }
      if (!HasKey(config, p.name(), k.fingerprint())) {
        out << YAML::Comment("runtime");
      }
      out << YAML::Key << "enabled" << YAML::Value << k.enabled();
      out << YAML::Key << "weight" << YAML::Value << k.weight();
      out << YAML::Key << "rpm_limit" << YAML::Value << k.rpm_limit();
      out << YAML::Key << "tpm_limit" << YAML::Value << k.tpm_limit();
      out << YAML::Key << "itpm_limit" << YAML::Value << k.itpm_limit();
      out << YAML::Key << "otpm_limit" << YAML::Value << k.otpm_limit();
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  const auto& r = s.routing();
  out << YAML::Key << "routing" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "strategy" << YAML::Value << r.strategy();
  out << YAML::Key << "max_attempts" << YAML::Value << r.max_attempts();
  if (!r.failover_primary().empty() || r.failover_fallbacks_size() > 0) {
    out << YAML::Key << "failover" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "primary" << YAML::Value << r.failover_primary();
    out << YAML::Key << "fallbacks" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& f : r.failover_fallbacks()) {
      out << f;
    }
    out << YAML::EndSeq;
    out << YAML::EndMap;
  }
  WriteRoutingRules(out, r);
  out << YAML::EndMap;

  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace ccrelay::controlplane

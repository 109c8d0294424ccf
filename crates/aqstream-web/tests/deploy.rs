//! What can be checked of `deploy/` without Docker or a cluster: every YAML file parses;
//! Prometheus and Alertmanager accept their configs (promtool, amtool); the compose file
//! validates against the Compose specification's schema and the Kubernetes manifests
//! against Kubernetes' (check-jsonschema, kubernetes-validate); and the references
//! between files hold (services, volumes, config maps, mounted files, the aqstream
//! commands and their flags, the data sources of the dashboards).

mod common;

use common::fixture::repo_root;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn deploy() -> PathBuf {
    repo_root().join("deploy")
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or(Value::String(s.clone())),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            // YAML merge keys (`<<: *anchor`) first, so the mapping's own keys win
            for (k, v) in h {
                if k.as_str() == Some("<<")
                    && let Value::Object(base) = to_json(v)
                {
                    m.extend(base);
                }
            }
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => format!("{other:?}"),
                };
                if key == "<<" {
                    continue;
                }
                let v = to_json(v);
                match (m.get_mut(&key), v) {
                    (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
                    (_, v) => {
                        m.insert(key, v);
                    }
                }
            }
            Value::Object(m)
        }
        Yaml::Null => Value::Null,
        Yaml::Alias(_) | Yaml::BadValue => Value::Null,
    }
}

fn load_yaml(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .iter()
        .map(to_json)
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{name}` is missing: run scripts/install-deps"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn every_yaml_file_parses() {
    let mut files = Vec::new();
    yaml_files(&deploy(), &mut files);
    assert!(files.len() >= 20, "{files:?}");
    for f in files {
        assert!(!load_yaml(&f).is_empty(), "{} is empty", f.display());
    }
}

#[test]
fn prometheus_and_alertmanager_accept_the_configs() {
    let promtool = tool("promtool");
    for cfg in [
        "compose/prometheus.yml",
        "k8s/prometheus.yml",
        "prometheus/prometheus.yml",
    ] {
        run_ok(
            Command::new(&promtool)
                .args(["check", "config"])
                .arg(deploy().join(cfg)),
        );
    }
    run_ok(
        Command::new(tool("amtool"))
            .arg("check-config")
            .arg(deploy().join("alertmanager/alertmanager.yml")),
    );
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let out = run_ok(
        Command::new(tool("check-jsonschema"))
            .args(["--builtin-schema", "vendor.compose-spec"])
            .arg(deploy().join("docker-compose.yml")),
    );
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn the_kubernetes_manifests_follow_the_kubernetes_schemas() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy().join("k8s"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let out = run_ok(
        Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--kubernetes-version", "1.31.0"])
            .args(&files),
    );
    assert!(!out.contains("ERROR"), "{out}");
}

/// The flags an `aqstream` subcommand accepts, read from its clap arguments in the
/// binary's source; for subcommands not built yet, the shared flags of the contract.
fn accepted_flags(sub: &str) -> BTreeSet<String> {
    let src = repo_root().join(format!("crates/aqstream/src/cmd/{sub}.rs"));
    match std::fs::read_to_string(&src) {
        Ok(text) => {
            let mut flags = BTreeSet::new();
            let mut after_arg = false;
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[arg(") && line.contains("long") {
                    after_arg = true;
                    continue;
                }
                if !after_arg || line.starts_with("///") || line.starts_with("#[") {
                    continue;
                }
                if let Some((name, _)) = line.split_once(':') {
                    let name = name.trim().trim_start_matches("pub ").trim();
                    flags.insert(format!("--{}", name.replace('_', "-")));
                    after_arg = false;
                }
            }
            assert!(!flags.is_empty(), "no flags found in {}", src.display());
            flags
        }
        // contract section 5: flags shared by the commands that need them
        Err(_) => [
            "--config",
            "--sensors",
            "--mqtt",
            "--kafka",
            "--http",
            "--pg",
            "--hj212-listen",
            "--data-dir",
            "--history-dir",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
    }
}

fn check_aqstream_args(what: &str, args: &[Value]) {
    let args: Vec<&str> = args.iter().map(|a| a.as_str().unwrap()).collect();
    let sub = args[0];
    assert!(
        ["ingest", "worker", "serve"].contains(&sub),
        "{what}: subcommand `{sub}`"
    );
    let flags = accepted_flags(sub);
    for a in &args[1..] {
        if a.starts_with("--") {
            assert!(
                flags.contains(*a),
                "{what}: `aqstream {sub}` has no flag {a} (has {flags:?})"
            );
        }
    }
}

/// `${VAR:-default}` → `default`.
fn default_of(s: &str) -> String {
    match (s.find("${"), s.find(":-"), s.find('}')) {
        (Some(a), Some(b), Some(c)) if a < b && b < c => {
            format!("{}{}{}", &s[..a], &s[b + 2..c], &s[c + 1..])
        }
        _ => s.to_string(),
    }
}

#[test]
fn the_compose_stack_is_consistent() {
    let dir = deploy();
    let c = load_yaml(&dir.join("docker-compose.yml")).remove(0);
    let services = c["services"].as_object().unwrap();
    for want in [
        "kafka",
        "mosquitto",
        "ingest-1",
        "ingest-2",
        "worker-1",
        "worker-2",
        "serve",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(services.contains_key(want), "service {want}");
    }
    // Kafka in KRaft mode
    assert_eq!(
        c["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"],
        "broker,controller"
    );
    let volumes: BTreeSet<&String> = c["volumes"].as_object().unwrap().keys().collect();
    let mut host_ports = BTreeSet::new();
    for (name, s) in services {
        assert!(s["image"].is_string(), "{name}: image");
        for d in s["depends_on"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .or_else(|| {
                s["depends_on"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            })
            .unwrap_or_default()
        {
            assert!(services.contains_key(&d), "{name} depends on unknown {d}");
        }
        for v in s["volumes"].as_array().into_iter().flatten() {
            let spec = default_of(v.as_str().unwrap());
            let src = spec.split(':').next().unwrap();
            if src.starts_with('.') {
                assert!(dir.join(src).exists(), "{name}: mounts missing {src}");
            } else {
                assert!(
                    volumes.contains(&src.to_string()),
                    "{name}: undeclared volume {src}"
                );
            }
        }
        for p in s["ports"].as_array().into_iter().flatten() {
            let host = p.as_str().unwrap().split(':').next().unwrap().to_string();
            assert!(
                host_ports.insert(host.clone()),
                "host port {host} published twice"
            );
        }
        if s["image"].as_str().unwrap().contains("aqstream") {
            check_aqstream_args(name, s["command"].as_array().unwrap());
        }
    }
    // Prometheus scrapes every aqstream service of the stack
    let prom = load_yaml(&dir.join("compose/prometheus.yml")).remove(0);
    let targets: BTreeSet<String> = prom["scrape_configs"][0]["static_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().split(':').next().unwrap().to_string())
        })
        .collect();
    for (name, s) in services {
        if s["image"].as_str().unwrap().contains("aqstream") {
            assert!(targets.contains(name), "prometheus does not scrape {name}");
        }
    }
    // Grafana: the provisioned data sources are those the dashboards use
    let ds = load_yaml(&dir.join("grafana/provisioning/datasources/aqstream.yml")).remove(0);
    let uids: BTreeSet<&str> = ds["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    for f in std::fs::read_dir(repo_root().join("dashboards"))
        .unwrap()
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
    {
        let text = std::fs::read_to_string(f.path()).unwrap();
        let d: Value = serde_json::from_str(&text).unwrap();
        let mut used = BTreeSet::new();
        collect_uids(&d, &mut used);
        for u in used {
            assert!(
                uids.contains(u.as_str()),
                "{}: data source {u} is not provisioned",
                f.path().display()
            );
        }
    }
    let provider = load_yaml(&dir.join("grafana/provisioning/dashboards/aqstream.yml")).remove(0);
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert!(
        services["grafana"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().ends_with(&format!(":{path}:ro"))),
        "grafana does not mount the dashboards at {path}"
    );
}

fn collect_uids(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(uid)), Some(Value::String(_))) =
                (m.get("uid"), m.get("type"))
            {
                out.insert(uid.clone());
            }
            m.values().for_each(|x| collect_uids(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_uids(x, out)),
        _ => {}
    }
}

#[test]
fn the_kubernetes_manifests_are_consistent() {
    let k8s = deploy().join("k8s");
    let kust = load_yaml(&k8s.join("kustomization.yaml")).remove(0);
    let mut generated: BTreeMap<String, &str> = BTreeMap::new();
    for (key, kind) in [
        ("configMapGenerator", "ConfigMap"),
        ("secretGenerator", "Secret"),
    ] {
        for g in kust[key].as_array().unwrap() {
            generated.insert(g["name"].as_str().unwrap().to_string(), kind);
            for f in g["files"].as_array().into_iter().flatten() {
                let f = f.as_str().unwrap();
                let path = f.split_once('=').map_or(f, |x| x.1);
                assert!(k8s.join(path).exists(), "kustomization: {path} is missing");
            }
        }
    }
    let mut docs = Vec::new();
    for r in kust["resources"].as_array().unwrap() {
        let f = k8s.join(r.as_str().unwrap());
        assert!(
            f.exists(),
            "kustomization: resource {} is missing",
            f.display()
        );
        docs.extend(load_yaml(&f));
    }
    let mut workloads: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut services = BTreeSet::new();
    let mut claims = BTreeSet::new();
    for d in &docs {
        let kind = d["kind"].as_str().unwrap();
        let name = d["metadata"]["name"].as_str().unwrap().to_string();
        assert!(d["apiVersion"].is_string(), "{kind}/{name}: apiVersion");
        match kind {
            "Service" => {
                services.insert(name);
            }
            "PersistentVolumeClaim" => {
                claims.insert(name);
            }
            "Deployment" | "StatefulSet" => {
                let labels = d["spec"]["template"]["metadata"]["labels"]
                    .as_object()
                    .unwrap()
                    .clone();
                for (k, v) in d["spec"]["selector"]["matchLabels"].as_object().unwrap() {
                    assert_eq!(
                        labels.get(k),
                        Some(v),
                        "{kind}/{name}: selector does not match its pods"
                    );
                }
                if kind == "StatefulSet" {
                    let svc = d["spec"]["serviceName"].as_str().unwrap();
                    assert!(
                        docs.iter()
                            .any(|x| x["kind"] == "Service" && x["metadata"]["name"] == svc),
                        "{name}: service {svc}"
                    );
                }
                workloads.push((name, labels));
            }
            _ => {}
        }
    }
    for d in &docs {
        let name = d["metadata"]["name"].as_str().unwrap();
        if d["kind"] == "Service" {
            let sel = d["spec"]["selector"].as_object().unwrap();
            assert!(
                workloads
                    .iter()
                    .any(|(_, l)| sel.iter().all(|(k, v)| l.get(k) == Some(v))),
                "service {name} selects no pods"
            );
        }
        let pod = match d["kind"].as_str().unwrap() {
            "Deployment" | "StatefulSet" | "Job" => &d["spec"]["template"]["spec"],
            _ => continue,
        };
        for v in pod["volumes"].as_array().into_iter().flatten() {
            if let Some(cm) = v["configMap"]["name"].as_str() {
                assert_eq!(
                    generated.get(cm),
                    Some(&"ConfigMap"),
                    "{name}: config map {cm}"
                );
            }
            if let Some(s) = v["secret"]["secretName"].as_str() {
                assert_eq!(generated.get(s), Some(&"Secret"), "{name}: secret {s}");
            }
            if let Some(c) = v["persistentVolumeClaim"]["claimName"].as_str() {
                assert!(claims.contains(c), "{name}: claim {c}");
            }
        }
        for c in pod["containers"].as_array().unwrap() {
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(s) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
                    assert_eq!(generated.get(s), Some(&"Secret"), "{name}: secret {s}");
                }
            }
            if c["image"] == "aqstream" {
                check_aqstream_args(name, c["args"].as_array().unwrap());
            }
        }
    }
    for want in [
        "kafka",
        "mosquitto",
        "ingest",
        "worker",
        "serve",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(workloads.iter().any(|(n, _)| n == want), "workload {want}");
    }
    let replicas = |n: &str| {
        docs.iter()
            .find(|d| d["metadata"]["name"] == n && d["spec"]["replicas"].is_number())
            .map(|d| d["spec"]["replicas"].as_i64().unwrap())
    };
    assert_eq!(replicas("ingest"), Some(2));
    assert_eq!(replicas("worker"), Some(2));
    // Prometheus finds the pods through headless services that exist
    let prom = load_yaml(&k8s.join("prometheus.yml")).remove(0);
    for sc in prom["scrape_configs"].as_array().unwrap() {
        for n in sc["dns_sd_configs"][0]["names"].as_array().unwrap() {
            let svc = n.as_str().unwrap().split('.').next().unwrap();
            assert!(
                services.contains(svc),
                "prometheus resolves unknown service {svc}"
            );
        }
    }
}

#[test]
fn the_operations_guide_says_what_was_not_run_here() {
    let doc = std::fs::read_to_string(repo_root().join("docs/operations.md")).unwrap();
    for topic in [
        "Scaling",
        "partitions",
        "Backups",
        "Restoring",
        "Upgrading",
        "not run",
    ] {
        assert!(doc.contains(topic), "docs/operations.md: {topic}");
    }
}

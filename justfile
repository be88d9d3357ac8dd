# alephbeth's tasks, one screen: `just` lists them. README's two commands are `run` and
# `test`; every task calls the script that does it, so each works without `just` too.
# Installing `just`: `cargo install just`, `pipx install rust-just`, or a package manager.

# List the tasks.
default:
    @just --list --unsorted

# Build and run everything locally: front on http://127.0.0.1:8080 (README's first command).
run:
    scripts/run-local

# Every check and test but the images (README's second command).
test:
    scripts/test

# shellcheck, yamllint, cargo fmt --check, clippy -D warnings, go vet.
lint:
    scripts/test lint

# Traces and dashboards read back from a real Jaeger v2 (built into .local/) and Prometheus.
observe:
    scripts/test observe

# The manifests: their schemas, the project's own rules, and Istio's own code on every lab step.
manifests:
    scripts/test manifests mesh

# The lab pages (links, commands, files used) and setup-cluster's dry runs.
labs:
    scripts/test labs

# Every page's kubectl commands replayed against a real kube-apiserver and etcd (built into .local/).
replay:
    scripts/test replay

# Each lab stage's patch behaves as its page and labs/stages.tsv say.
stages:
    scripts/test stages

# Build, push and run the images with Compose (needs Docker and a registry on localhost:32000).
images:
    scripts/test images

# The workshop on a real single-node cluster: every page's commands, for real (root; after `images`).
cluster:
    scripts/test cluster

# For instructors: build (and with --push, push) every stage's images for a room.
build-stages *args:
    scripts/build-stages {{args}}

# Release builds side by side: requests/s, latency, RSS (needs wrk). Not in CI: noisy machines.
bench *args:
    cargo build --release --locked --bin front --bin aleph --bin bench --example hello
    target/release/bench {{args}}

# Release builds under hostile requests: each service inside its pod's memory (in `test`).
memory:
    scripts/test memory

# Release builds under the loader's steady mixed traffic, e.g. `just soak 1h`. Not in CI.
soak *args:
    cargo build --release --locked -p front -p aleph -p beth -p loader -p release-checks
    target/release/soak {{args}}

# What CI runs (.ci/run, after it installs the tools): every check, images too.
ci:
    scripts/test --images

#!/usr/bin/env bash
# Figures for docs/IMAGE.md, in one run on this machine: the test image's layers and size, a
# no-op converge (tag exists), a rebuild after a pin bump (layer cache), and the naive image.
# Needs the test image built once (make test-molecule) and the Docker engine up.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_CONFIG=$PWD/ansible.cfg
out=${1:-out/image-measure.txt}
mkdir -p "$(dirname "$out")"
log=${out%.txt}.log
: >"$log"
vars=(-e image_hosts=localhost -e "ansible_python_interpreter=$PWD/.venv/bin/python" -e chatterbox_image_name=her-os/chatterbox-shim-test
      -e chatterbox_image_platform=linux/amd64 -e chatterbox_image_base_image=local/debian:bookworm
      -e chatterbox_image_torch_index_url= -e chatterbox_image_weights_source=local
      -e "chatterbox_image_local_weights_dir=$PWD/.cache/test-bundle" -e chatterbox_image_weights_manifest=weights-manifest.json
      -e "chatterbox_image_build_dir=$PWD/.cache/image-build" -e "chatterbox_image_extra_ca_file=${PIP_CERT:-}"
      -e "chatterbox_image_fact_dir=$PWD/.cache/facts")
play() { ansible-playbook -i localhost, -c local ansible/image.yml "${vars[@]}" "$@"; }
seconds() { local t0=$SECONDS; "$@" >>"$log" 2>&1 || { echo "FAILED: $* (see $log)" >&2; exit 1; }; echo $((SECONDS - t0)); }

{
  echo "# measured $(date -u +%FT%TZ) on $(uname -m), $(nproc) cores, docker $(docker version -f '{{.Server.Version}}')"
  echo "first converge (builds if missing): $(seconds play) s"
  echo "no-op converge (tag exists): $(seconds play) s"
  ref=$(python3 -c "import json; print(json.load(open('.cache/facts/chatterbox_image.fact'))['ref'])")
  echo "image: $ref"
  docker image inspect -f 'total size: {{.Size}} bytes' "$ref"
  echo "layers (newest first):"
  docker history --format '{{.Size}}\t{{.CreatedBy}}' "$ref" | cut -c1-150
  bump=$(mktemp -d)
  cp -a --parents images/Dockerfile images/requirements.lock app/pyproject.toml app/src scripts/image_inputs.py "$bump/"
  sed -i -E 's/"image_revision": [0-9]+/"image_revision": 1000/' "$bump/app/src/chatterbox_shim/pins.json"
  echo "rebuild after a pin bump (image_revision): $(seconds play -e "chatterbox_image_source_dir=$bump") s"
  bumped=$(python3 -c "import json; print(json.load(open('.cache/facts/chatterbox_image.fact'))['ref'])")
  docker image inspect -f "bumped image $bumped: {{.Size}} bytes" "$bumped"
  rm -rf "$bump"
  naive=$(mktemp -d); mkdir "$naive/extra-ca"; cp images/naive/Dockerfile "$naive/"
  [[ -n ${PIP_CERT:-} ]] && cp "$PIP_CERT" "$naive/extra-ca/proxy.crt"
  echo "naive build: $(seconds docker build -q --network host -t her-os/chatterbox-naive:measure "$naive") s"
  docker image inspect -f 'naive total size: {{.Size}} bytes' her-os/chatterbox-naive:measure
  docker history --format '{{.Size}}\t{{.CreatedBy}}' her-os/chatterbox-naive:measure | cut -c1-150
  rm -rf "$naive"
} | tee "$out"

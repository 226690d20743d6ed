# Meshwork's image: the project on Deno's official image, dependencies cached at build time, run
# as the image's non-root user `deno` (uid 1993) with the least-privilege flags of
# bin/permissions.ts. tests/unit/k8s_manifests_test.ts keeps this file in step with them.
#
#   docker build -t meshwork:0.1.0 .
#   docker run --rm -p 8000:8000 meshwork:0.1.0                  # serve configs/multi_worker.yaml
#   docker run --rm meshwork:0.1.0 worker --config configs/one_worker.yaml   # another command
#
# `deno task deploy k8s` renders pods that run `worker` from this image (docs/kubernetes.md).
FROM denoland/deno:2.9.6

WORKDIR /app
COPY --chown=deno:deno . .
USER deno

# Every entry point and every example graph (configs name them; `serve` imports the graph at run
# time), so that `--cached-only` finds all of it in the image's DENO_DIR.
RUN deno install --frozen --entrypoint cli.ts bin/worker.ts bin/client.ts \
      examples/hello_world/graph.ts examples/encoder_decoder/graph.ts \
      examples/llm_queue/graph.ts examples/simple_pipeline/simple_pipeline.ts \
      examples/simple_pipeline/routed_pipeline.ts

EXPOSE 8000
ENTRYPOINT ["deno", "run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys=hostname,networkInterfaces,loadavg,systemMemoryInfo,cpus", "--allow-run", "--cached-only", "cli.ts"]
CMD ["serve", "--config", "configs/multi_worker.yaml"]

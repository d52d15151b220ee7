"""An image's config and build history, as the SPA shows it."""

from __future__ import annotations

from gateway.models import api, oci


def api_layers(descriptors: list[oci.Descriptor]) -> list[api.Layer]:
    return [
        api.Layer(
            digest=d.digest,
            media_type=d.media_type,
            size=d.size,
            urls=d.urls,
            annotations=d.annotations,
        )
        for d in descriptors
    ]


def build_config(
    manifest_digest: str, image: oci.ImageManifest, config: oci.ImageConfig
) -> api.ImageConfig:
    layers = list(image.layers)
    history: list[api.HistoryItem] = []
    next_layer = 0
    for entry in config.history:
        layer = None
        if not entry.empty_layer and next_layer < len(layers):
            d = layers[next_layer]
            layer = api.HistoryLayer(digest=d.digest, size=d.size, media_type=d.media_type)
            next_layer += 1
        history.append(
            api.HistoryItem(
                created=oci.normalize_time(entry.created),
                created_by=entry.created_by,
                author=entry.author,
                comment=entry.comment,
                empty_layer=entry.empty_layer,
                layer=layer,
            )
        )
    run = config.config
    return api.ImageConfig(
        digest=image.config.digest,
        media_type=image.config.media_type,
        manifest_digest=manifest_digest,
        created=oci.normalize_time(config.created),
        author=config.author,
        os=config.os,
        architecture=config.architecture,
        variant=config.variant or None,
        os_version=config.os_version,
        config=api.RunConfig(
            user=run.user,
            env=run.env,
            entrypoint=run.entrypoint,
            cmd=run.cmd,
            working_dir=run.working_dir,
            exposed_ports=sorted(run.exposed_ports),
            volumes=sorted(run.volumes),
            labels=run.labels,
            stop_signal=run.stop_signal,
            healthcheck=run.healthcheck,
            shell=run.shell,
        ),
        history=history,
        layers=api_layers(layers),
        diff_ids=config.rootfs.diff_ids,
    )

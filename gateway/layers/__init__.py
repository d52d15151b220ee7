"""Files inside images: the engine behind the Files and Compare views.

A layer is streamed once (``indexer``: tar parsed as it passes, ``decode``: gzip/zstd
in bounded pieces, ``checkpoints``: gzip decompression checkpoints) into an index kept on
disk (``store``) within a byte budget; reads are single-flight and bounded in number
(``work``). From the indexes: a layer's listing and an image's merged file system
(``views``), one file's bytes or a text preview with about one checkpoint span read
(``reading``), and the diff of two images (``diff``). ``engine.LayerEngine`` is what the
routes use; it never talks to the registry itself but reads through the ``BlobSource``
(``source``) each request hands it. See docs/files-inside-images.md.

Nothing here imports FastAPI or the services: the registry view plugs it in.
"""

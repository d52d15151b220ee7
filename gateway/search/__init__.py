"""Registry-wide search: an index of what every tag is, and its answers.

::

    sbom.py       SBOM documents → name@version pairs (SPDX, CycloneDX, in-toto, DSSE)
    documents.py  manifest / index / config bytes → the facts kept (parts, labels, platform)
"""

"""Many files, and long files in parts, across a Ray cluster (`--ray` on vsr batch and upscale).

Ray is an optional extra (`pip install 'vsr[ray]'`), imported only when --ray is given.
vsr.cluster.driver runs on the machine where vsr was started; vsr.cluster.worker is what each
actor does; vsr.cluster.plan decides which files are cut into parts.
"""

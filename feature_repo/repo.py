"""What `feast apply` registers when run by hand in this folder: the default profile over the default home.

The platform itself never imports this module (``churn features apply`` builds
the objects for its settings); for another profile or home, ``churn features
render`` writes a Feast repository of its own and prints the command to run.
"""

import sys
from pathlib import Path

import click

from feature_repo.declarations import declarations

OWN_YAML = Path(__file__).resolve().with_name("feature_store.yaml")


def _check_invocation() -> None:
    """By hand, only this folder's own feature_store.yaml matches these objects: say what to run otherwise.

    With it, make the default home's feast folder, where its registry and online store live: Feast creates the
    registry file's folder but not the folders above it, and a fresh clone has no var/ yet.
    """
    ctx = click.get_current_context(silent=True)
    chosen = (ctx.find_root().obj or {}).get("FS_YAML_FILE") if ctx is not None else None
    if chosen is not None and Path(chosen).resolve() == OWN_YAML:
        (OWN_YAML.parent / "../var/feast/local").resolve().mkdir(parents=True, exist_ok=True)
    if chosen is not None and Path(chosen).resolve() != OWN_YAML:
        sys.stderr.write(
            f"error: {chosen} is not this folder's feature_store.yaml (the default profile and home); run "
            "`churn features render` and use the `feast -c ... ` command it prints (or `churn features apply`)\n"
        )
        raise SystemExit(2)


_check_invocation()
globals().update({obj.name: obj for obj in declarations()})  # Feast collects the module's objects by attribute

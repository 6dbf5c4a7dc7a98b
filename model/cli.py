"""`rapbot models ...`: list the profiles and their weights, pull them, check them offline, and
convert a released RAP checkpoint. Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args

import typer

from model.settings import ModelSettings, Profile
from model.weights import pull_command

if TYPE_CHECKING:
    from model.weights import WeightSpec

models_app = typer.Typer(name="models", help="The networks: profiles, weights, conversion.", no_args_is_help=True)


def _current_profile() -> str:
    try:
        return ModelSettings().profile
    except ValueError:  # a bad RAPBOT_PROFILE is reported when a command runs, not in --help
        return str(ModelSettings.model_fields["profile"].default)


# The profile table's names (model.settings.Profile), not a list kept here by hand.
PROFILE_NAMES = get_args(Profile)
ProfileArg = Annotated[
    str | None,
    typer.Argument(
        help=f"{' | '.join(PROFILE_NAMES)} [default: RAPBOT_PROFILE, now {_current_profile()}]", show_default=False
    ),
]


def _settings(profile: str | None) -> ModelSettings:
    # The networks' modules (numpy, PIL) load when a command runs, not for `rapbot --help`.
    from model.profiles import settings_for

    try:
        return settings_for(profile)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="PROFILE") from error


def _weights(settings: ModelSettings) -> list[WeightSpec]:
    """The weights of `settings`, or a usage error naming a malformed RAPBOT_ENCODER / _DETECTOR."""
    # The networks' modules (numpy, PIL) load when a command runs, not for `rapbot --help`.
    from model.profiles import network_specs
    from model.weights import weights_for

    try:
        return weights_for(settings, network_specs(settings))
    except ValueError as error:
        typer.echo(f"Bad model setting: {error}", err=True)
        raise typer.Exit(code=2) from error


@models_app.command("list")
def list_profiles() -> None:
    """Each profile's networks and the weights they need (present or missing)."""
    # The networks' modules (numpy, PIL) load when a command runs, not for `rapbot --help`.
    from model.profiles import PROFILES, network_specs

    for profile in PROFILES:
        settings = _settings(profile)
        specs = network_specs(settings)
        typer.echo(f"{profile}:")
        typer.echo(f"  encoder   {specs.encoder}")
        typer.echo(f"  detector  {specs.detector} (class names: {specs.detector_text})")
        typer.echo(f"  generator {specs.generator}")
        weights = _weights(settings)
        if not weights:
            typer.echo("  weights   none (random weights built in code)")
        for weight in weights:
            mark = "present" if weight.present else "missing"
            typer.echo(f"  [{mark}] {weight.name}  <- {weight.source}")


@models_app.command("check")
def check(profile: ProfileArg = None) -> None:
    """Offline: report which of the profile's weights are on this machine; exit 1 if any is missing."""

    settings = _settings(profile)
    weights = _weights(settings)
    missing = [weight for weight in weights if not weight.present]
    for weight in weights:
        mark = "present" if weight.present else "MISSING"
        typer.echo(f"[{mark}] {weight.name}  ({weight.local_path})")
    faces_missing = settings.faces and not _check_faces()
    if missing:
        names = ", ".join(weight.name for weight in missing)
        typer.echo(
            f"{len(missing)} weight(s) missing for profile {settings.profile}: {names}. "
            f"Fetch them with `{pull_command(settings.profile)}` (model dir: {settings.model_dir}).",
            err=True,
        )
        raise typer.Exit(code=1)
    if faces_missing:
        raise typer.Exit(code=1)
    typer.echo(f"All weights of profile {settings.profile} are present in {settings.model_dir}.")


def _check_faces() -> bool:
    """Report the face weights (a pip package, found without importing it); False if any is missing."""
    # The networks' modules (numpy, PIL) load when a command runs, not for `rapbot --help`.
    from model.faces import weight_paths

    try:
        paths = weight_paths()
    except RuntimeError as err:
        typer.echo(f"[MISSING] faces: {err}", err=True)
        return False
    for name, path in paths.items():
        typer.echo(f"[{'present' if path.is_file() else 'MISSING'}] faces {name}  ({path})")
    if all(path.is_file() for path in paths.values()):
        return True
    typer.echo("Face weights missing: reinstall face-recognition-models==0.3.0, or set RAPBOT_FACES=false.", err=True)
    return False


@models_app.command("pull")
def pull(profile: ProfileArg = None) -> None:
    """Download the profile's weights into RAPBOT_MODEL_DIR (needs internet)."""
    # The networks' modules (numpy, PIL) load when a command runs, not for `rapbot --help`.
    from model.profiles import network_specs
    from model.weights import WeightsMissing
    from model.weights import pull as pull_weights

    settings = _settings(profile)
    _weights(settings)  # fails early on a malformed spec
    try:
        paths = pull_weights(
            settings,
            network_specs(settings),
            lambda: typer.echo(f"Fetching the weights of profile {settings.profile} into {settings.model_dir} ..."),
        )
    except WeightsMissing as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(code=1) from error
    for path in paths:
        typer.echo(f"  {path}")
    typer.echo("Done." if paths else "Nothing to fetch: this profile builds its weights in code.")


@models_app.command("convert-rap")
def convert_rap(
    src: Annotated[Path, typer.Argument(help="A released RAP checkpoint directory (original LLaVA layout).")],
    dst: Annotated[Path, typer.Argument(help="Where to write the transformers-format checkpoint.")],
    vision_tower: Annotated[
        str | None, typer.Option(help="CLIP vision tower dir or hub id (default: the one RAP used).")
    ] = None,
) -> None:
    """Convert a released RAP checkpoint (Hoar012/RAP-*) to transformers' Llava format."""
    # The networks' modules (numpy, PIL) load when a command runs, not for `rapbot --help`.
    from model.convert import ConversionError
    from model.convert import convert_rap as convert
    from model.weights import WeightsMissing

    try:
        out = convert(src, dst, vision_tower=vision_tower)
    except (ConversionError, WeightsMissing) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"Converted checkpoint written to {out}")


def register(app: typer.Typer) -> None:
    """Add `rapbot models ...` to the root app."""
    app.add_typer(models_app, name="models")

"""The RAP prompt, byte for byte as the released RAP models were trained on it (RAP paper + release;
see shared/RAP_FACTS.md "Generate: the prompt"), the two conversation templates, and the paper's
instruction templates (appendix tables 20-23).

Pure string work: no torch here, so training, worker and tests can import it cheaply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

IMAGE_TOKEN = "<image>"


class NamedConcept(Protocol):
    """Anything with a name and an info text (model.types.ConceptRef fits)."""

    @property
    def name(self) -> str: ...

    @property
    def info(self) -> str: ...


# --- the user turn -------------------------------------------------------------------------------


def concept_entry(index: int, name: str, info: str) -> str:
    """One retrieved concept: its image placeholder, its bracketed name and its info text."""
    return f"{index}.{IMAGE_TOKEN}\n Name: <{name}>, Info: {info}\n"


def concept_entries(concepts: Sequence[NamedConcept], start: int = 1) -> str:
    return "".join(concept_entry(start + i, c.name, c.info) for i, c in enumerate(concepts))


def user_turn(question: str, concepts: Sequence[NamedConcept], *, has_image: bool, start: int | None = None) -> str:
    """The RAP user turn.

    - query image and concepts: "<image>\\n[" + entries + "]" + question
    - query image, no concepts: "<image>\\n" + question (training used no brackets then)
    - no image: "[" + entries + "]" + question (or the bare question with no concepts)

    Inference numbers entries from 1 (the default). Training numbered text-only samples from 0:
    pass `start=0` to reproduce that."""
    first = 1 if start is None else start
    if not concepts:
        return f"{IMAGE_TOKEN}\n{question}" if has_image else question
    bracketed = "[" + concept_entries(concepts, first) + "]" + question
    return f"{IMAGE_TOKEN}\n{bracketed}" if has_image else bracketed


# --- conversation templates ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChatTemplate:
    """A one-turn conversation format: `render(turn)` is what goes to the model before generation;
    `render(turn, answer)` is the full training text (the answer followed by its end marker)."""

    name: str
    system: str
    prefix: str  # before the user turn
    middle: str  # between the user turn and the assistant's answer
    answer_end: str  # after the assistant's answer
    stop: str  # the text that ends generation

    def render(self, turn: str, answer: str | None = None) -> str:
        text = self.system + self.prefix + turn + self.middle
        if answer is None:
            return text
        return text + self.answer_suffix(answer)

    def answer_suffix(self, answer: str) -> str:
        """What follows `render(turn)` in a training sample (used to find the answer's tokens)."""
        return self.answer_lead + answer + self.answer_end

    @property
    def answer_lead(self) -> str:
        # Vicuna v1 puts a space between "ASSISTANT:" and the answer; Phi-3 begins on a new line.
        return " " if self.middle.endswith(":") else ""


# LLaVA's conv_vicuna_v1: system + " " + "USER: " + turn + " " + "ASSISTANT:" [+ " " + answer + "</s>"].
VICUNA_V1 = ChatTemplate(
    name="vicuna_v1",
    system=(
        "A chat between a curious user and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the user's questions."
    ),
    prefix=" USER: ",
    middle=" ASSISTANT:",
    answer_end="</s>",
    stop="</s>",
)

# The Phi-3 instruct format LLaVA-Phi-3-mini (and so RAP-Phi3-mini) was trained with.
PHI3 = ChatTemplate(
    name="phi3",
    system="<|system|>\nYou are a helpful AI assistant.<|end|>\n",
    prefix="<|user|>\n",
    middle="<|end|>\n<|assistant|>\n",
    answer_end="<|end|>\n",
    stop="<|end|>",
)

TEMPLATES: dict[str, ChatTemplate] = {t.name: t for t in (VICUNA_V1, PHI3)}


# --- the whole prompt with its images ------------------------------------------------------------

ImageT = TypeVar("ImageT")
ImageT_co = TypeVar("ImageT_co", covariant=True)


class ConceptWithImage(NamedConcept, Protocol[ImageT_co]):
    """A concept with its reference image (a PIL image, a path: whatever the caller passes on)."""

    @property
    def image(self) -> ImageT_co: ...


@dataclass(frozen=True)
class RapPrompt(Generic[ImageT]):
    """The exact prompt text and its images in the order of the `<image>` placeholders."""

    text: str
    images: list[ImageT]


def build_prompt(
    template: ChatTemplate,
    image: ImageT | None,
    concepts: Sequence[ConceptWithImage[ImageT]],
    question: str,
    *,
    start: int | None = None,
    answer: str | None = None,
) -> RapPrompt[ImageT]:
    """The full prompt for `template` and the images to pass with it: the query image first (when
    there is one), then each concept's reference image in prompt order."""
    turn = user_turn(question, concepts, has_image=image is not None, start=start)
    images: list[ImageT] = ([image] if image is not None else []) + [c.image for c in concepts]
    return RapPrompt(text=template.render(turn, answer), images=images)


# --- instruction templates from the RAP paper's appendix -----------------------------------------
# "<V>", "<H>", "<O>", "<C1>", "<C2>" in the paper stand for bracketed concept names: format them
# with name=... (or name1=/name2=), e.g. RECOGNITION_QUESTIONS[1].format(name="bo") -> "Is <bo> in this image?"

CAPTION_QUESTION = "Give a personalized caption of this image."  # table 21
RECOGNITION_EVAL_QUESTION = "Is <{name}> in this image? Answer with a single word or phrase."

RECOGNITION_QUESTIONS: tuple[str, ...] = (  # table 20
    "Is <{name}> visible in this picture?",
    "Is <{name}> in this image?",
    "Do you see <{name}> in the photo?",
    "Is <{name}> present in this photograph?",
    "Can you identify if <{name}> is captured in this picture?",
    "Is <{name}> depicted in this image?",
    "Does the picture feature <{name}>?",
    "Can you confirm if <{name}> appears in this photo?",
    "Is <{name}> included in this shot?",
    "Is <{name}> shown in this image?",
    "Can you tell if <{name}> is part of this photograph?",
    "Is there any sign of <{name}> in this picture?",
    "Can you detect <{name}> in the photo?",
    "Is <{name}> captured in this image?",
    "Do you recognize <{name}> in this picture?",
)

GROUNDING_QUESTIONS: tuple[str, ...] = (  # table 20
    "Give <{name}>'s bounding box in the image.",
    "Describe <{name}>'s position in the image.",
    "Please provide the coordinates of the bounding box for <{name}> in the given image.",
    "Specify the rectangular boundaries of <{name}> in the image.",
    "Give <{name}>'s position in the following image.",
    "Please provide <{name}>'s bounding coordinates in the image.",
    "Indicate the bounding box for <{name}> in the image.",
    "Show the bounding box for <{name}> in the picture.",
    "Specify <{name}>'s bounding box in the photograph.",
    "Mark <{name}>'s bounding box within the image.",
)

CAPTION_QUESTIONS: tuple[str, ...] = (  # table 21
    "Give a caption of the image.",
    CAPTION_QUESTION,
    "Provide a brief caption of the image.",
    "Summarize the visual content of the image.",
    "Create a short caption of the image.",
    "Offer a short and clear interpretation of the image.",
    "Describe the image concisely.",
    "Render a concise summary of the photo.",
    "Provide a caption of the given image.",
    "Can you provide a personalized caption of this photo?",
    "Could you describe this image concisely?",
)

DESCRIPTION_QUESTIONS: tuple[str, ...] = (  # table 22
    "Describe the image.",
    "Give a description of the image.",
    "Give a description of the image in detail.",
    "Give a short description of the image.",
    "Describe the image in detail.",
    "Please provide a description of the image.",
    "Can you give me details about the image?",
    "Could you explain what's shown in the image?",
)

PERSON_QA_QUESTIONS: tuple[str, ...] = (  # table 23, person
    "What is <{name}>'s hair color?",
    "What is <{name}>'s height (estimated)?",
    "What is <{name}>'s skin tone?",
    "What is <{name}>'s eye color?",
    "What style of clothing is <{name}> wearing?",
    "Does <{name}> have any visible tattoos?",
    "Does <{name}> wear glasses or contact lenses?",
    "Does <{name}> have any facial hair?",
    "What is <{name}>'s approximate age?",
    "What is <{name}>'s build or body type?",
    "What is <{name}> doing?",
)

OBJECT_QA_QUESTIONS: tuple[str, ...] = (  # table 23, object
    "What color is <{name}>?",
    "What pattern is on <{name}>?",
    "What shape does <{name}> have?",
    "What size is <{name}>?",
    "What is the texture of <{name}>?",
    "Is <{name}> shiny or matte?",
    "What material is <{name}> made of?",
    "Does <{name}> have any patterns or designs on it?",
    "Is <{name}> new or worn?",
    "Does <{name}> have any visible brand or logo?",
    "Is <{name}> functional or decorative?",
)

MULTI_CONCEPT_QA_QUESTIONS: tuple[str, ...] = (  # table 23, two concepts
    "What do <{name1}> and <{name2}> have in common?",
    "What activity are <{name1}> and <{name2}> engaged in?",
    "Where could <{name1}> and <{name2}> be located?",
    "What is the most noticeable difference between <{name1}> and <{name2}>?",
    "What are they doing?",
)

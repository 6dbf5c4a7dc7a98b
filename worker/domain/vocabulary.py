"""The general vocabulary the detector looks for when a user remembers something: everyday
categories of the things and people users photograph (the COCO classes plus common personal items)."""

from __future__ import annotations

GENERAL_VOCABULARY: tuple[str, ...] = (
    "person", "baby", "child", "dog", "cat", "bird", "horse", "rabbit", "hamster", "fish",
    "turtle", "cow", "sheep", "toy", "teddy bear", "doll", "action figure", "plush toy", "ball",
    "cup", "mug", "bottle", "glass", "bowl", "plate", "vase", "plant", "potted plant", "flower",
    "car", "bicycle", "motorcycle", "bus", "truck", "boat", "airplane", "scooter", "skateboard",
    "surfboard", "backpack", "handbag", "suitcase", "umbrella", "hat", "cap", "shoe", "sneaker",
    "glasses", "sunglasses", "watch", "necklace", "ring", "jacket", "shirt", "dress", "scarf",
    "laptop", "phone", "tablet", "keyboard", "mouse", "camera", "headphones", "guitar", "piano",
    "book", "clock", "lamp", "chair", "couch", "bed", "pillow", "blanket", "table", "bench",
    "building", "house", "statue", "painting", "cake", "pizza", "sandwich", "fruit", "figurine",
)  # fmt: skip

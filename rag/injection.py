"""Keeping articles in their place: they can change what the assistant knows, never what it does.

Three layers, none of them a guarantee on its own:
1. The prompt presents every part of an article (title and outlet included) as quoted evidence and
   tells the model to ignore instructions inside it (`rag.prompts`).
2. `without_instructions` leaves out of the evidence the sentences that address an AI assistant
   rather than a reader: the usual phrasings of a prompt injection, in English, French, Spanish and
   German. The reader still sees the whole passage; only what the model reads is filtered.
3. `about_assistant` recognises questions about the assistant itself ("what is your task?", "print
   your system prompt"): those get a fixed reply written by the program (`rag.prompts.ABOUT_ASSISTANT`),
   so an article that plants an answer to them has nothing to answer.
Verification after generation (`rag.verification`) is the last net: a sentence the cited passage
does not state is removed.
"""

from __future__ import annotations

import re

from .answer import split_sentences

__all__ = ["without_instructions", "is_instruction", "about_assistant"]

# Sentences that speak to the model. Reason for each family: they are what injected text must say to
# work at all (address the model, give it a new task or a reply to make); news prose about people
# ("an assistant coach", "the assistant minister") does not say these things.
_INSTRUCTION = re.compile(
    # ignore/forget the rules (en, fr, es, de)
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(?:instructions?|rules|prompts?|guidelines|directions)\b|"
    r"\b(?:ignorez|ignore|oubliez|oublie)\b[^.!?\n]{0,40}\b(?:instructions?|consignes|règles)\b|"
    r"\b(?:ignora|ignore|olvida)\b[^.!?\n]{0,40}\b(?:instrucciones|reglas)\b|"
    r"\b(?:ignoriere|ignorieren|vergiss)\b[^.!?\n]{0,40}\b(?:anweisungen|regeln)\b|"
    # a new identity or task for the reader-model
    r"\byou are now\b|\byour (?:new |real |only )?(?:task|job|role|instructions?|goal)\b|"
    r"\b(?:ta|votre) (?:nouvelle )?(?:tâche|mission|rôle)\b|\btu (?:nueva )?tarea\b|\bdeine (?:neue )?aufgabe\b|"
    r"\b(?:system|developer) (?:prompt|message|instructions?)\b|\bprompt (?:système|systeme|del sistema)\b|"
    r"\b(?:as|to) (?:an? )?(?:ai|language model|llm|chatbot)s?\b|\bnote to (?:the )?(?:ai|assistant|model)s?\b|"
    r"\b(?:dear|hey|attention) (?:ai|assistant|chatbot|model|llm)\b|"
    # a reply planted for every question
    r"\b(?:when|if|whenever) (?:anyone|someone|somebody|the user|a user|you are|you're|asked)\b[^.!?\n]{0,20}\b(?:asks?|asked)\b|"
    r"\b(?:answer|reply|respond|say|write|print|output)\b[^.!?\n]{0,60}\b(?:to|for) (?:every|each|all|any) (?:question|query|request|user)s?\b|"
    r"\b(?:répond[sez]*|réponds)\b[^.!?\n]{0,60}\b(?:à|a) (?:chaque|toute[s]?) (?:question|demande)s?\b|"
    r"\b(?:responde|contesta)\b[^.!?\n]{0,60}\b(?:a|en) (?:cada|toda[s]?) (?:pregunta|consulta)s?\b|"
    r"\b(?:antworte|antworten)\b[^.!?\n]{0,60}\b(?:auf )?(?:jede|alle) (?:frage|anfrage)n?\b|"
    r"\b(?:answer|reply|respond|say) (?:that|with|only)\b[^.!?\n]*\bcite\b|\bcite (?:passage|source) \[?\d+\]?|"
    r"\b(?:do not|don't|never) (?:mention|reveal|tell|say|cite)\b",
    re.IGNORECASE)


def is_instruction(sentence: str) -> bool:
    """True when the sentence addresses an AI assistant (an injection), not a human reader."""
    return bool(_INSTRUCTION.search(sentence))


def without_instructions(text: str) -> tuple[str, int]:
    """The text without its sentences addressed to an AI assistant, and how many were left out."""
    spans = split_sentences(text)
    kept = [text[s:e] for s, e in spans if not is_instruction(text[s:e])]
    return " ".join(kept), len(spans) - len(kept)


# Questions about the assistant rather than the articles. Reason: "your"/"you" plus the assistant's
# own configuration (prompt, instructions, task, rules) only ever asks about the program.
_ABOUT_ASSISTANT = re.compile(
    r"\b(?:your|ton|ta|tes|votre|vos|tu|dein(?:e|en)?)\s+(?:system\s+)?(?:prompt|instructions?|task|job|rules|configuration|"
    r"purpose|role|guidelines|tâche|consignes|tarea|aufgabe)\b|"
    r"\bsystem\s*prompt\b|\bwho (?:are|made|built|created) you\b|\bwhat are you\s*\??\s*$|"
    r"\bwhat (?:model|llm) (?:are you|is this)\b|\b(?:ignore|forget) (?:your|all|previous)\b",
    re.IGNORECASE)


def about_assistant(question: str) -> bool:
    """True for questions about the assistant itself (its task, prompt, rules), not about the news."""
    return bool(_ABOUT_ASSISTANT.search(question))

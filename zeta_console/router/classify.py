"""Prompt -> task type, with a confidence and a reason an operator can read.

Stage one of routing. The rules are precompiled regexes over the prompt (tens of
microseconds). When they are unsure and the semantic classifier is enabled, the prompt is
embedded through the embedder tier and compared with example prompts per task.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from zeta_console.router.api import Classification
from zeta_console.settings import Settings, Task
from zeta_console.wording import counted

Embed = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]

# Very long prompts are scanned at the head (the instructions) and the tail (where pasted
# code and error traces usually end up): cues are found without paying for the middle.
_SCAN_HEAD = 6000
_SCAN_TAIL = 2000


@dataclass(frozen=True)
class _Cues:
    """One family of cues, each found cue adding `weight`: whole words (a set lookup per
    word, much cheaper than a regex alternation), a regex for phrases and symbols (skipped when the
    prompt lacks the substring `needs`), and a regex of Chinese/Japanese substrings (no spaces to
    split words at), run only when the prompt has CJK characters."""

    weight: float
    words: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None
    needs: str = ""
    cjk: re.Pattern[str] | None = None

    def find(self, lowered: str, words: Sequence[str], has_cjk: bool) -> list[str]:
        # No list is built for words the family has none of, nor for a pattern that matched nothing.
        found = [word for word in words if word in self.words] if not self.words.isdisjoint(words) else []
        if self.pattern is not None and self.needs in lowered and (matches := self.pattern.findall(lowered)):
            found += [match.strip() for match in matches]
        if has_cjk and self.cjk is not None:
            found += self.cjk.findall(lowered)
        if len(found) < 2:  # most families find nothing in most prompts
            return found
        return list(dict.fromkeys(found))  # distinct, in order of appearance


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _alternatives(text: str) -> str:
    return "|".join(re.escape(cue) for cue in text.split())


# Cue words in English, Spanish, French and German (the tokens are split at hyphens and apostrophes:
# "Python-Funktion" gives "python" and "funktion"), Chinese and Japanese as substrings.
_CODE_CUES = (
    _Cues(3.0, pattern=re.compile(
        r"```|traceback \(most recent|(?:error|exception): |[a-z]exception\b|segmentation fault|#include\b"
        r"|\b(?:def|fn|func|function) \w+\(|\bselect .{1,80}? from\b"
    )),
    _Cues(1.0, words=_words(
        "python javascript typescript js rust golang java kotlin swift ruby php haskell scala c++ c# sql bash shell html css regex"
        " json yaml dockerfile docker nginx kubernetes git github npm pip pytest numpy pandas react django flask fastapi node nodejs"
        " linux awk grep sed curl http code function functions method class variable compile compiler debug refactor bug segfault"
        " script api endpoint query import return async programming"
        " código función funciones programa programación variable bucle clase"  # es
        " fonction fonctions programmation requête boucle"  # fr
        " funktion funktionen skript programm programmieren abfrage"  # de
    ), pattern=re.compile(
        r"\b(?:unit[- ]tests?|stack trace|shell script|regular expression|expresión regular|expression régulière|reguläre[nr]? ausdruck)\b"
    ), cjk=re.compile(_alternatives(
        "代码 函数 报错 脚本 正则 编程 程序 指针 数组 变量 编译 c语言"
        " コード 関数 プログラム スクリプト 正規表現 コマンド ポインタ 配列 変数 クエリ コンパイル ブランチ コミット バグ デバッグ"
    ))),
    _Cues(0.5, pattern=re.compile(r"`[^`\n]+`|\w\(\)|=>|->|!=|==|;\s*$|\{\s*$", re.MULTILINE)),
)
_REASONING_CUES = (
    _Cues(1.5, words=_words(
        "prove proof derive trade-off trade-offs tradeoff tradeoffs justify theorem lemma rigorous rigorously implication implications"
        " carefully thoroughly"
        " demuestra demostrar demostración justifica justificar detalladamente cuidadosamente"  # es
        " démontre démontrer démonstration justifie justifier soigneusement"  # fr
        " beweise beweisen beweis begründe begründen ausführlich sorgfältig"  # de
    ), pattern=re.compile(
        r"\b(?:step by step|pros and cons|reason through|in detail|in depth|think (?:it )?through|think carefully"
        r"|paso a paso|con detalle|en detalle|a fondo|con cuidado|pros y (?:los )?contras|ventajas y desventajas|a favor y en contra"
        r"|étape par étape|en détail|en profondeur|avantages et (?:les )?inconvénients|pour et (?:le )?contre"
        r"|schritt für schritt|im detail|vor- und nachteile|für und wider)\b"
    ), cjk=re.compile(_alternatives(
        "证明 详细 仔细 一步一步 逐步 推理 利弊 优缺点 权衡 论证 "
        "証明 詳しく 丁寧に 順を追って 段階的 論じ メリットとデメリット 賛成と反対 考察"
    ))),
    _Cues(0.75, words=_words(
        "why analyze analyse analysis compare comparison evaluate explain plan strategy design architecture assess argue"
        " consequence consequences optimize optimise calculate estimate consider weigh mechanism mechanisms causes effects risks"
        " reasoning arguments"
        " analiza analizar análisis compara comparar evalúa evaluar explica explicar explícame explícalo razona razonar razonamiento"
        " argumenta argumentar estrategia diseña diseñar consecuencias causas efectos mecanismos riesgos debería conviene"  # es
        " pourquoi analyse analyser compare comparer comparaison évalue évaluer explique expliquer argumente argumenter raisonnement"
        " stratégie élabore élaborer conséquences causes effets mécanismes risques réfléchis réfléchir détaille"  # fr
        " warum analysiere analysieren analyse vergleiche vergleichen bewerte bewerten erkläre erklären strategie entwickle folgen"
        " ursachen gründe wäge abwägen argumente zusammenhänge risiken"  # de
    ), pattern=re.compile(
        r"\b(?:what if|should i|what would happen|how do you know|por qué|qué pasaría|faut-il|dois-je|que se passerait|soll ich|was wäre)\b"
    ), cjk=re.compile(_alternatives(
        "为什么 为何 分析 比较 评估 策略 原因 影响 理由 应该 如果 "
        "なぜ どうして 分析 比較 評価 戦略 原因 影響 理由 べき もし"
    ))),
    _Cues(1.0, words=_words("integral derivative equation probability matrix eigenvalue eigenvalues sqrt"),
          pattern=re.compile(r"[∑∫√π≤≥≠]")),
)
# Quick arithmetic, one-step equations, translation and summaries are the small model's work,
# as is a question that says it wants no code.
_SIMPLE_CUES = (
    _Cues(1.5, pattern=re.compile(r"(?<![\w^])\d*x\s*(?:[-+*/]\s*\d+\s*)?=\s*-?\d+(?![\w.^])"), needs="="),  # 2x + 3 = 11
    _Cues(1.0, words=_words(
        "translate translation summarize summarise summary traduce traducir resume resumen traduis traduire résume übersetze"
        " übersetzen zusammenfassung"
    ), pattern=re.compile(
        r"\d\s*(?:[+*/×÷]|\s-\s|times|multiplied by|divided by|plus|minus|mal|geteilt durch|por|fois|divisé par)\s*\d"
    ), cjk=re.compile(_alternatives("乘以 除以 加上 减去 翻译 总结 概括 たす ひく かける わる 訳して 翻訳 要約"))),
)
_NEGATED_CODE = re.compile(
    r"\b(?:don'?t|do not|no need to|without|no)\s+(?:write|writing|show|give me)?\s*(?:any\s+)?code\b"
    r"|\bno\s+(?:escribas|escribir|pongas|quiero)\s+(?:ningún\s+)?código|\bsin código"
    r"|\bn'?(?:écris|ecris|écrivez)\s+pas\s+de\s+code|\bsans\s+code"
    r"|\b(?:schreib\w*\s+)?keinen\s+code|\bohne\s+code"
    r"|(?:不要|别|不用|无需|不需要)(?:写|给)?(?:任何)?代码|コード(?:は|を)?(?:書かない|書かずに|不要|いらない|なしで)"
)
_CODE_WORDS = ("code", "código", "代码", "コード")  # what every negated request names
_TOKEN = re.compile(r"[a-zß-öø-ɏ][a-z0-9ß-öø-ɏ+#]*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_QUESTION_MARKS = ("?", "？")
_GREETING = re.compile(r"^\W*(?:hi|hello|hey|thanks|thank you|good (?:morning|evening|night)|how are you|bye)\b")
_ENUMERATION = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+\S", re.MULTILINE)
_CUE_NAMES = {Task.CODE: "code cues", Task.COMPLEX_REASONING: "reasoning cues", Task.SIMPLE: "simple cues"}
_CUE_LABELS = {"```": "code fence", "traceback (most recent": "error trace", "error:": "error message", "exception:": "error message"}

_SHORT_WORDS = 12
_LONG_WORDS = 80


def classify_rules(prompt: str, *, has_images: bool = False) -> Classification:
    """Classify by surface cues: code, reasoning or simple (also when there are no cues at all)."""
    text = prompt if len(prompt) <= _SCAN_HEAD + _SCAN_TAIL else f"{prompt[:_SCAN_HEAD]}\n{prompt[-_SCAN_TAIL:]}"
    lowered = text.lower()
    cjk_characters = len(_CJK.findall(lowered))
    # A negated request ("don't write any code") is taken out before the code cues are looked for.
    negations = 0
    if any(word in lowered for word in _CODE_WORDS):
        lowered, negations = _NEGATED_CODE.subn(" ", lowered)
    tokens = _TOKEN.findall(lowered)
    words = len(tokens) + cjk_characters // 2  # about two characters a word in Chinese and Japanese
    simple_score, simple_cues = _score(lowered, tokens, cjk_characters > 0, _SIMPLE_CUES)
    if negations:
        simple_score += 1.5
        simple_cues.append("no code wanted")
    code_score, code_cues = _score(lowered, tokens, cjk_characters > 0, _CODE_CUES)
    reasoning_score, reasoning_cues = _score(lowered, tokens, cjk_characters > 0, _REASONING_CUES)
    parts = max(sum(lowered.count(mark) for mark in _QUESTION_MARKS), len(_ENUMERATION.findall(text)))
    if parts >= 2:
        reasoning_score += 1.0
        reasoning_cues.append(f"{parts}-part question")
    if words > _LONG_WORDS:
        reasoning_score += 0.5
        reasoning_cues.append(f"long prompt ({words} words)")
    images = "; image attached" if has_images else ""
    if code_score == reasoning_score == simple_score == 0.0:
        return _simple(lowered, words, images)
    # On a tie code wins over reasoning, and both over simple.
    scored = (
        (Task.CODE, code_score, code_cues),
        (Task.COMPLEX_REASONING, reasoning_score, reasoning_cues),
        (Task.SIMPLE, simple_score, simple_cues),
    )
    ranked = sorted(scored, key=lambda entry: -entry[1])
    (task, score, cues), (rival_task, rival_score, rival_cues) = ranked[0], ranked[1]
    # Stronger cues raise confidence with diminishing returns; the rival's cues lower it.
    confidence = 0.3 + 0.68 * (1.0 - math.exp(-score)) * score / (score + rival_score)
    against = f"; {_CUE_NAMES[rival_task]}: {', '.join(rival_cues)}" if rival_cues else ""
    return Classification(task, round(confidence, 3), f"{_CUE_NAMES[task]}: {', '.join(cues)}{against}{images}", "rules")


def _score(lowered: str, tokens: Sequence[str], has_cjk: bool, families: tuple[_Cues, ...]) -> tuple[float, list[str]]:
    score = 0.0
    cues: list[str] = []
    for family in families:
        found = family.find(lowered, tokens, has_cjk)
        if found:
            score += family.weight * len(found)
            cues += [_CUE_LABELS.get(cue, cue) for cue in found]
    return score, cues


def _simple(lowered: str, words: int, images: str) -> Classification:
    if _GREETING.match(lowered) and words <= _SHORT_WORDS:
        return Classification(Task.SIMPLE, 0.95, f"greeting, no code or reasoning cues{images}", "rules")
    if words <= _SHORT_WORDS:
        return Classification(Task.SIMPLE, 0.85, f"short prompt ({counted(words, 'word')}), no code or reasoning cues{images}", "rules")
    confidence = 0.65 if words <= 2 * _SHORT_WORDS else 0.5
    return Classification(Task.SIMPLE, confidence, f"no code or reasoning cues in {words} words{images}", "rules")


@dataclass(frozen=True)
class _Example:
    task: Task
    text: str
    unit_vector: tuple[float, ...]


class Classifier:
    """Explicit task, else rules, else (when the rules are unsure and enabled) the embedder."""

    def __init__(self, settings: Settings, embed: Embed | None = None) -> None:
        self.settings = settings.classifier
        self._embed = embed
        self._examples: asyncio.Future[list[_Example]] | None = None

    async def classify(self, prompt: str, *, task: Task | None = None, has_images: bool = False) -> Classification:
        if task is not None:
            return Classification(task, 1.0, f"explicit task {task}", "explicit")
        by_rules = classify_rules(prompt, has_images=has_images)
        if by_rules.confidence >= self.settings.confidence_threshold or not self.settings.semantic or self._embed is None:
            return by_rules
        try:
            return await self._classify_semantic(prompt, self._embed)
        except Exception as error:  # noqa: BLE001 - whatever went wrong with the embedder, the rules still answer
            detail = str(error) or type(error).__name__
            return Classification(by_rules.task, by_rules.confidence, f"{by_rules.reason}; semantic classifier failed: {detail}", "rules")

    async def _classify_semantic(self, prompt: str, embed: Embed) -> Classification:
        examples = await self._example_vectors(embed)
        (vector,) = await embed([prompt])
        prompt_unit = _unit(vector)
        comparable = [example for example in examples if len(example.unit_vector) == len(prompt_unit)]
        if not comparable:
            raise ValueError("the prompt's embedding has other dimensions than the examples'")
        similarity, nearest = max(((_dot(prompt_unit, example.unit_vector), example) for example in comparable), key=lambda pair: pair[0])
        confidence = round(min(1.0, max(0.0, similarity)), 3)
        return Classification(nearest.task, confidence, f'nearest example "{nearest.text}" (similarity {similarity:.2f})', "semantic")

    async def _example_vectors(self, embed: Embed) -> list[_Example]:
        """Embed the example prompts once; concurrent first callers share one embed call."""
        if self._examples is None:
            self._examples = asyncio.ensure_future(self._embed_examples(embed))
        try:
            return await asyncio.shield(self._examples)
        except Exception:
            self._examples = None  # try again on the next unsure prompt
            raise

    async def _embed_examples(self, embed: Embed) -> list[_Example]:
        labelled = [(task, text) for task, texts in self.settings.examples.items() if task != Task.EMBEDDING for text in texts]
        vectors = await embed([text for _, text in labelled])
        if len(vectors) != len(labelled):
            raise ValueError(f"embedder returned {len(vectors)} vectors for {len(labelled)} examples")
        return [_Example(task, text, _unit(vector)) for (task, text), vector in zip(labelled, vectors, strict=True)]


def _unit(vector: Sequence[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:
        raise ValueError("embedder returned a zero vector")
    return tuple(value / norm for value in vector)


def _dot(left: Sequence[float], right: Sequence[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))

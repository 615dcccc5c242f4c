"""The human chit-chat corpus's cleaning rules, each on real lines of the dataset."""

from __future__ import annotations

import pytest

from dialog.chat.chitchat import dropped_by, speaker_turns


@pytest.mark.parametrize(
    ("query", "reply", "rule"),
    [
        (
            "whats up",
            "hey Jarrod how are you doing I think that dogs would really become mans best friends",
            "partner",
        ),
        ("Thats probably true.", "Anyway, I gotta go to my job, goodluck winning", "partner"),
        ("hello", "oh wow hahaha welcome to the chit chat challenge!!!", "partner"),
        # leave-taking and chat-app talk served as replies by the first version's index (SSA bench)
        ("Ok fair enough", "Thank you so much for chatting with me, I need to get going!!", "partner"),
        ("I kinda need to go walk my dog", "well that is fine It was nice chatting", "partner"),
        (
            "Three years .",
            "Okay it has been lovely talking to you but I have a 5 page essay and 20 minutes to finish it."
            " Goodbye!",
            "partner",
        ),
        (
            "yeah my girlfriend stayed up with me to chat",
            "I tried to open so many chats and they would all be empty Thats cool!",
            "partner",
        ),
        ("Do you like cereal?", "yeah", "short"),
        (
            "Do you play games?",
            "i dont play fort nite a lot but my brother does and he is really good",
            "persona",
        ),
        ("Where are you from?", "yeah i am from america have you ever been?", "persona"),
        ("What do you do?", "I work at a warehouse. Do you like to do the working?", "persona"),
        # a name, a place, meals, trips and a body's hobbies: replies the SSA bench saw served
        ("what's your name?", "We're Facebook friends xD I'm Emily", "persona"),
        (
            "do you like rain?",
            "I do, perfect to sleep and watch movies, but I'm in Idaho, is sunny here today. Are you enjoying"
            " the rain?",
            "persona",
        ),
        (
            "what did you have for breakfast?",
            "..... well. You'll be disappointed. I had some fruit snacks and little chocolates"
            ' for a "brunch"',
            "persona",
        ),
        ("have you been to Germany?", "Yeah just to equador and I think I went to Tonga once.", "persona"),
        (
            "do you cook?",
            "I love cooking, but ironically i prefer cooking for other people It is more entertaining",
            "persona",
        ),
        (
            "What is your dream?",
            " ".join(["Times when I wanted to shoot high and hit the stars."] * 5),
            "long",
        ),
        ("Do you like cereal?", "Yeah bananas are really good in cereal, they are the best", None),
    ],
)
def test_each_cleaning_rule_on_a_real_line(query: str, reply: str, rule: str | None) -> None:
    assert dropped_by(query, reply) == rule


def test_a_speakers_messages_are_one_turn() -> None:
    group = [{"text": "whats up MD"}, {"text": "im doing good"}, {"text": "how are you doing?"}]
    assert speaker_turns([group]) == ["whats up MD im doing good how are you doing?"]

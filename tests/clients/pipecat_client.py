"""pipecat-ai's standard OpenAI Realtime example against an Antiphon server: an LLMContext holding a
user message, a context aggregator pair, an LLMRunFrame. Run from its own virtual environment
(pipecat brings its own onnxruntime); prints one JSON line: the audio bytes that came back, the
transcript of the answer, and any error frames.

    python pipecat_client.py ws://127.0.0.1:PORT/v1/realtime "what is your name"
"""
import asyncio
import json
import sys

from pipecat.frames.frames import (EndFrame, ErrorFrame, LLMFullResponseEndFrame, LLMRunFrame, TTSAudioRawFrame,
                                   TTSTextFrame)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService


class Collector(FrameProcessor):
    """What came back: audio, text, errors; ends the pipeline after `turns` responses."""

    def __init__(self, turns: int = 1):
        super().__init__()
        self.turns, self.audio, self.text, self.errors, self.responses = turns, 0, [], [], 0
        self.task = None

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio += len(frame.audio)
        elif isinstance(frame, TTSTextFrame):  # the spoken words (LLMTextFrame repeats them)
            self.text.append(frame.text)
        elif isinstance(frame, ErrorFrame):
            self.errors.append(str(frame.error))
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.responses += 1
            if self.responses >= self.turns:
                await self.task.queue_frame(EndFrame())
        await self.push_frame(frame, direction)


async def main(url: str, question: str, turns: int) -> None:
    llm = OpenAIRealtimeLLMService(api_key="x", base_url=url)
    context = LLMContext(messages=[{"role": "user", "content": question}])
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(context)
    collector = Collector(turns)
    pipeline = Pipeline([user_aggregator, llm, collector, assistant_aggregator])
    task = PipelineTask(pipeline)
    collector.task = task
    await task.queue_frames([LLMRunFrame()])
    runner = PipelineRunner(handle_sigint=False)
    await asyncio.wait_for(runner.run(task), 90)
    print(json.dumps({"audio_bytes": collector.audio, "text": "".join(collector.text), "errors": collector.errors,
                      "responses": collector.responses}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], 1))

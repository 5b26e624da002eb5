"""Tessera's GatewayService called by a generated Python gRPC client (grpcio).

Run through tests/python/run.sh, which generates the stubs into tests/python/gen/. Needs:
  TESSERA_GRPC_TARGET   host:port of a running gateway (plaintext HTTP/2), e.g. 127.0.0.1:8080
  TESSERA_TEST_API_KEY  an API key the gateway accepts, allowed to call the model "demo"
The "demo" model echoes the last user message as the upstream received it, so redaction
shows in the answer.
"""

import os
import re
import unittest

import grpc

from tessera.chat.v1 import chat_pb2
from tessera.gateway.v1 import gateway_pb2, gateway_pb2_grpc

TARGET = os.environ.get("TESSERA_GRPC_TARGET", "")
API_KEY = os.environ.get("TESSERA_TEST_API_KEY", "")
TIMEOUT_S = 10

MESSAGE = "Please forward the invoice to jane.doe@example.com before Friday."
REDACTED = "Please forward the invoice to <EMAIL_1> before Friday."
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def chat_request(content, model="demo"):
    return chat_pb2.ChatRequest(
        model=model,
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=content)],
    )


def auth(key):
    return (("authorization", f"Bearer {key}"),)


class GatewayServiceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TARGET or not API_KEY:
            raise RuntimeError("set TESSERA_GRPC_TARGET (host:port) and TESSERA_TEST_API_KEY")
        cls.channel = grpc.insecure_channel(TARGET)
        try:
            grpc.channel_ready_future(cls.channel).result(timeout=TIMEOUT_S)
        except grpc.FutureTimeoutError:
            cls.channel.close()
            raise RuntimeError(f"no gRPC server answers at {TARGET}")
        cls.stub = gateway_pb2_grpc.GatewayServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def assert_code(self, call, code):
        with self.assertRaises(grpc.RpcError) as caught:
            call()
        self.assertEqual(caught.exception.code(), code, caught.exception.details())

    def test_chat_answers_with_the_email_redacted(self):
        res = self.stub.Chat(
            gateway_pb2.ChatRequest(request=chat_request(MESSAGE)),
            metadata=auth(API_KEY),
            timeout=TIMEOUT_S,
        )
        self.assertEqual(len(res.response.choices), 1)
        choice = res.response.choices[0]
        self.assertEqual(choice.message.content, REDACTED)
        self.assertEqual(choice.message.role, chat_pb2.ROLE_ASSISTANT)
        self.assertEqual(choice.finish_reason, "stop")
        self.assertEqual(res.deployment, "demo/demo")
        self.assertEqual(len(res.request_id), 26)
        self.assertRegex(res.request_id, ULID)
        self.assertGreater(res.response.usage.total_tokens, 0)

    def test_chat_stream_assembles_the_redacted_text(self):
        chunks = list(
            self.stub.ChatStream(
                gateway_pb2.ChatStreamRequest(request=chat_request(MESSAGE)),
                metadata=auth(API_KEY),
                timeout=TIMEOUT_S,
            )
        )
        self.assertGreaterEqual(len(chunks), 3)
        text = "".join(c.delta.content for m in chunks for c in m.chunk.choices)
        self.assertEqual(text, REDACTED)
        self.assertEqual({m.deployment for m in chunks}, {"demo/demo"})
        ids = {m.request_id for m in chunks}
        self.assertEqual(len(ids), 1)
        self.assertRegex(ids.pop(), ULID)
        self.assertEqual(chunks[-1].chunk.choices[0].finish_reason, "stop")

    def test_wrong_key_is_unauthenticated(self):
        self.assert_code(
            lambda: self.stub.Chat(
                gateway_pb2.ChatRequest(request=chat_request("hi")),
                metadata=auth("tk-not-a-real-key"),
                timeout=TIMEOUT_S,
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    def test_missing_key_is_unauthenticated(self):
        self.assert_code(
            lambda: self.stub.Chat(gateway_pb2.ChatRequest(request=chat_request("hi")), timeout=TIMEOUT_S),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    def test_unknown_model_is_not_found(self):
        self.assert_code(
            lambda: self.stub.Chat(
                gateway_pb2.ChatRequest(request=chat_request("hi", model="no-such-model")),
                metadata=auth(API_KEY),
                timeout=TIMEOUT_S,
            ),
            grpc.StatusCode.NOT_FOUND,
        )

    def test_unknown_model_on_a_stream_is_not_found(self):
        self.assert_code(
            lambda: list(
                self.stub.ChatStream(
                    gateway_pb2.ChatStreamRequest(request=chat_request("hi", model="no-such-model")),
                    metadata=auth(API_KEY),
                    timeout=TIMEOUT_S,
                )
            ),
            grpc.StatusCode.NOT_FOUND,
        )


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""ChannelLiveServerTestCase in use, run by Django's test runner from tests/unit/test_testing_helpers_live.py."""

import requests
import websocket

from tests.djangoapp_http.models import Note
from worker.test import ChannelLiveServerTestCase


class LiveServerTests(ChannelLiveServerTestCase):
    def test_http_websocket_database_and_static(self):
        Note.objects.create(title="seen by the worker")
        response = requests.get(self.live_server_url + "/notes/", timeout=10)
        self.assertEqual(response.json(), {"titles": ["seen by the worker"]})
        ws = websocket.create_connection(self.live_server_ws_url + "/echo/", timeout=10)
        ws.send("ping")
        self.assertEqual(ws.recv(), "ping")
        ws.close()
        static = requests.get(self.live_server_url + "/static/css/site.css", timeout=10)
        self.assertEqual(static.status_code, 200)
        self.assertIn(b"teal", static.content)

    def test_second_test_gets_fresh_processes(self):
        self.assertEqual(requests.get(self.live_server_url + "/notes/", timeout=10).json(), {"titles": []})

// Live chat: one WebSocket to /api/v1/realtime (signed in by the page's session cookie),
// subscribed to this room from the last event the page showed, resuming after a drop.
// A drop is not always announced: when the network goes away (the browser says so with its
// "offline" event, or nothing comes back to a ping) the socket is closed on purpose, and a
// new one resumes from the last seq seen, so the gateway replays what was missed.
(function () {
  var list = document.getElementById("messages");
  if (!list) { return; }
  var room = list.dataset.room;
  var me = list.dataset.me;
  var lastSeq = parseInt(list.dataset.lastSeq || "0", 10);
  var status = document.getElementById("chat-status");
  var typing = document.getElementById("typing");
  var form = document.getElementById("send");
  var text = document.getElementById("chat-text");
  var socket = null;
  var delay = 500;
  var typingTimer = null;
  var retryTimer = null;
  var pingTimer = null;
  var PING_EVERY = 25000;  // ms of silence before asking the server for a pong
  var PONG_WITHIN = 10000;  // ms a live connection takes at most to answer

  function seqOf(item) { return parseInt(item.id.slice(2), 10); }

  function show(message) {
    var item = document.getElementById("m-" + message.seq);
    if (!item) {
      item = document.createElement("li");
      item.id = "m-" + message.seq;
      // In seq order, whatever order the events came in.
      var after = null;
      for (var i = list.children.length - 1; i >= 0; i--) {
        if (seqOf(list.children[i]) < message.seq) { after = list.children[i]; break; }
      }
      list.insertBefore(item, after ? after.nextSibling : list.firstChild);
    }
    item.className = "message" + (message.sender_id === me ? " mine" : "");
    item.textContent = "";
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = message.sender_username || "";
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = message.deleted_at ? "(message deleted)" : message.content;
    item.appendChild(who);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(body);
    if (message.sender_id !== me && !message.deleted_at && message.message_type !== "system") {
      // The same "Report" link the page renders (a plain link: its page has the form).
      var report = document.createElement("a");
      report.className = "report";
      report.href = "/report?type=chat_message&id=" + encodeURIComponent(message.id) +
        "&back=" + encodeURIComponent("/chat/" + room);
      report.textContent = "Report";
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " this chat message";
      report.appendChild(hidden);
      item.appendChild(report);
    }
    item.scrollIntoView({block: "nearest"});
  }

  // Any frame proves the connection alive; after PING_EVERY ms of silence a ping must be
  // answered within PONG_WITHIN ms, or the socket is given up and replaced.
  function heartbeat(ws) {
    clearTimeout(pingTimer);
    pingTimer = setTimeout(function () {
      if (ws !== socket) { return; }
      if (ws.readyState !== WebSocket.OPEN) { drop(ws); return; }  // never opened
      ws.send(JSON.stringify({type: "ping"}));
      pingTimer = setTimeout(function () { drop(ws); }, PONG_WITHIN);
    }, PING_EVERY);
  }

  // Stop using this socket now (its close event may come much later, or never).
  function drop(ws) {
    if (ws !== socket) { return; }
    socket = null;
    clearTimeout(pingTimer);
    ws.onmessage = null;
    ws.onclose = null;
    ws.close();
    lost();
  }

  function lost() {
    status.textContent = navigator.onLine === false
      ? "Connection lost. Reconnecting when the network is back…" : "Connection lost. Reconnecting…";
    clearTimeout(retryTimer);
    if (navigator.onLine === false) { return; }  // the "online" event reconnects
    retryTimer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  }

  function connect() {
    clearTimeout(retryTimer);
    if (socket) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/api/v1/realtime");
    socket = ws;
    heartbeat(ws);
    ws.onmessage = function (event) {
      heartbeat(ws);
      var frame = JSON.parse(event.data);
      if (frame.type === "ready") {
        ws.send(JSON.stringify({type: "subscribe", room_id: room, last_seq: lastSeq}));
      } else if (frame.type === "subscribed") {
        status.textContent = "Live";
        delay = 500;
      } else if (frame.room_id === room && typeof frame.seq === "number") {
        lastSeq = Math.max(lastSeq, frame.seq);
        if (frame.type.indexOf("message.") === 0 && frame.data) {
          show(frame.data);
          typing.textContent = "";
        }
      } else if (frame.type === "typing" && frame.room_id === room && frame.user_id !== me) {
        typing.textContent = "Someone is typing…";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typing.textContent = ""; }, 3000);
      } else if (frame.type === "resync") {
        location.reload();
      }
    };
    ws.onclose = function () {
      if (ws !== socket) { return; }
      socket = null;
      clearTimeout(pingTimer);
      lost();
    };
  }

  window.addEventListener("offline", function () { if (socket) { drop(socket); } });
  window.addEventListener("online", function () { delay = 500; connect(); });

  form.addEventListener("submit", function (event) {
    if (!socket || socket.readyState !== WebSocket.OPEN || !text.value.trim()) { return; }
    event.preventDefault();
    var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now());
    socket.send(JSON.stringify({type: "message.send", room_id: room, content: text.value,
                                idempotency_key: key, request_id: key}));
    text.value = "";
  });
  var lastTyping = 0;
  text.addEventListener("input", function () {
    var now = Date.now();
    if (socket && socket.readyState === WebSocket.OPEN && now - lastTyping > 2000) {
      lastTyping = now;  // at most one typing signal every two seconds
      socket.send(JSON.stringify({type: "typing", room_id: room}));
    }
  });
  connect();
})();

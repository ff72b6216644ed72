// Live chat: one WebSocket to /api/v1/realtime (signed in by the page's session cookie),
// subscribed to this room from the last event the page showed, resuming after a drop.
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

  function show(message) {
    var item = document.getElementById("m-" + message.seq);
    if (!item) {
      item = document.createElement("li");
      item.id = "m-" + message.seq;
      list.appendChild(item);
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
    item.scrollIntoView({block: "nearest"});
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/api/v1/realtime");
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "ready") {
        socket.send(JSON.stringify({type: "subscribe", room_id: room, last_seq: lastSeq}));
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
    socket.onclose = function () {
      status.textContent = "Reconnecting…";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

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

package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.upstream.ModelRequest.FunctionCall;
import dev.talon.upstream.ModelRequest.FunctionCallOutput;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Role;
import dev.talon.upstream.ModelRequest.Tool;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The exact request bodies, paths and headers sent to each kind of server. */
class UpstreamCallsTest {
  static Model model(String api, String extra) {
    return ConfigLoader.parse("{ models: { mode: 'replace', providers: { p: { baseUrl: 'http://127.0.0.1:1234/v1', "
        + "apiKey: 'lmstudio', api: '" + api + "', headers: { 'X-Org': 'p', 'X-Both': 'provider' }, "
        + "models: [{ id: 'm', maxTokens: 512, headers: { 'X-Both': 'model' } " + extra + " }] } } } }",
        "t", Map.<String, String>of()::get).catalog().resolve("p/m");
  }

  static JsonNode json(String text) throws Exception {
    return UpstreamJson.MAPPER.readTree(text.replace('\'', '"'));
  }

  static final JsonNode SCHEMA = UpstreamJson.MAPPER.createObjectNode().put("type", "object");

  static final ModelRequest ROUND_TRIP = new ModelRequest("Be brief.", List.of(
      new Message(Role.USER, "Weather in Paris?"),
      new FunctionCall("call_1", "weather", "{\"city\":\"Paris\"}"),
      new FunctionCallOutput("call_1", "18C"),
      new Message(Role.ASSISTANT, "It is 18C."),
      new Message(Role.USER, "Thanks")),
      List.of(new Tool("weather", "Current weather", SCHEMA, true)), "auto", null, 0.2, null);

  @Test
  void responsesBody() throws Exception {
    UpstreamCall call = UpstreamCalls.encode(model("openai-responses", ""), ROUND_TRIP, true);
    assertEquals("http://127.0.0.1:1234/v1/responses", call.url());
    assertEquals(json("""
        {'model':'m','instructions':'Be brief.','input':[
          {'type':'message','role':'user','content':[{'type':'input_text','text':'Weather in Paris?'}]},
          {'type':'function_call','call_id':'call_1','name':'weather','arguments':'{\\'city\\':\\'Paris\\'}'},
          {'type':'function_call_output','call_id':'call_1','output':'18C'},
          {'type':'message','role':'assistant','content':[{'type':'output_text','text':'It is 18C.'}]},
          {'type':'message','role':'user','content':[{'type':'input_text','text':'Thanks'}]}],
         'tools':[{'type':'function','name':'weather','description':'Current weather','parameters':{'type':'object'},'strict':true}],
         'tool_choice':'auto','max_output_tokens':512,'temperature':0.2,'store':false,'stream':true}
        """.replace("\\'", "\\\"")), call.body());
  }

  @Test
  void chatBody() throws Exception {
    UpstreamCall call = UpstreamCalls.encode(model("openai-completions", ""), ROUND_TRIP, true);
    assertEquals("http://127.0.0.1:1234/v1/chat/completions", call.url());
    assertEquals(json("""
        {'model':'m','messages':[
          {'role':'system','content':'Be brief.'},
          {'role':'user','content':'Weather in Paris?'},
          {'role':'assistant','content':null,'tool_calls':[{'id':'call_1','type':'function',
             'function':{'name':'weather','arguments':'{\\'city\\':\\'Paris\\'}'}}]},
          {'role':'tool','tool_call_id':'call_1','content':'18C'},
          {'role':'assistant','content':'It is 18C.'},
          {'role':'user','content':'Thanks'}],
         'tools':[{'type':'function','function':{'name':'weather','description':'Current weather','parameters':{'type':'object'},'strict':true}}],
         'tool_choice':'auto','max_tokens':512,'temperature':0.2,'stream_options':{'include_usage':true},'stream':true}
        """.replace("\\'", "\\\"")), call.body());
  }

  @Test
  void anthropicBodyAlternatesRolesAndSendsToolResultsAsUser() throws Exception {
    UpstreamCall call = UpstreamCalls.encode(model("anthropic-messages", ""), ROUND_TRIP, true);
    assertEquals("http://127.0.0.1:1234/v1/messages", call.url());
    assertEquals(json("""
        {'model':'m','max_tokens':512,'messages':[
          {'role':'user','content':[{'type':'text','text':'Weather in Paris?'}]},
          {'role':'assistant','content':[{'type':'tool_use','id':'call_1','name':'weather','input':{'city':'Paris'}}]},
          {'role':'user','content':[{'type':'tool_result','tool_use_id':'call_1','content':'18C'}]},
          {'role':'assistant','content':[{'type':'text','text':'It is 18C.'}]},
          {'role':'user','content':[{'type':'text','text':'Thanks'}]}],
         'system':'Be brief.',
         'tools':[{'name':'weather','description':'Current weather','input_schema':{'type':'object'}}],
         'tool_choice':{'type':'auto'},'temperature':0.2,'stream':true}
        """), call.body());
    assertEquals("lmstudio", call.headers().get("x-api-key"));
    assertEquals("2023-06-01", call.headers().get("anthropic-version"));
    assertNull(call.headers().get("Authorization"));
  }

  @Test
  void aContinuedAnswerEndsTheConversationAsTheAssistantsUnfinishedMessage() {
    ModelRequest continuing = ModelRequest.of("Be brief.", List.of(new Message(Role.USER, "Count"))).continuing("One, two, ");
    String instructions = "Be brief.\n\n" + ModelRequest.CONTINUE;
    JsonNode responses = UpstreamCalls.encode(model("openai-responses", ""), continuing, true).body();
    assertEquals(instructions, responses.path("instructions").asText());
    assertEquals("assistant", responses.at("/input/1/role").asText());
    assertEquals("One, two, ", responses.at("/input/1/content/0/text").asText());
    JsonNode chat = UpstreamCalls.encode(model("openai-completions", ""), continuing, true).body();
    assertEquals(instructions, chat.at("/messages/0/content").asText());
    assertEquals("assistant", chat.at("/messages/2/role").asText());
    assertEquals("One, two, ", chat.at("/messages/2/content").asText());
    JsonNode anthropic = UpstreamCalls.encode(model("anthropic-messages", ""), continuing, true).body();
    assertEquals(instructions, anthropic.path("system").asText());
    assertEquals("assistant", anthropic.at("/messages/1/role").asText());
    assertEquals("One, two,", anthropic.at("/messages/1/content/0/text").asText(),
        "Anthropic prefills the message but refuses one that ends in whitespace");
  }

  @Test
  void anthropicOnTheBareHostGetsTheV1Path() {
    Model opus = ConfigLoader.parse("{ agents: { defaults: { model: 'anthropic/claude-opus-4-5' } } }", "t",
        Map.of("ANTHROPIC_API_KEY", "k")::get).catalog().resolve("anthropic/claude-opus-4-5");
    assertEquals("https://api.anthropic.com/v1/messages", UpstreamCalls.url(opus));
  }

  @Test
  void anthropicThinkingBudgetStaysBelowMaxTokens() {
    ModelRequest high = new ModelRequest(null, List.of(new Message(Role.USER, "x")), List.of(), null, 4096, null, "high");
    JsonNode body = UpstreamCalls.encode(model("anthropic-messages", ""), high, true).body();
    assertEquals(4095, body.path("thinking").path("budget_tokens").asInt());
  }

  @Test
  void headersKeyMarkerAndModelOverProvider() {
    Map<String, String> headers = UpstreamCalls.encode(model("openai-completions", ""), ROUND_TRIP, true).headers();
    assertEquals("Bearer lmstudio", headers.get("Authorization"));
    assertEquals("model", headers.get("X-Both"));
    assertEquals("p", headers.get("X-Org"));
    assertEquals("text/event-stream", headers.get("Accept"));
  }

  @Test
  void paramsAreMergedLastAndWin() {
    JsonNode body = UpstreamCalls.encode(model("openai-completions",
        ", params: { top_k: 20, max_tokens: 99, chat_template_kwargs: { enable_thinking: false } }"), ROUND_TRIP, true).body();
    assertEquals(20, body.path("top_k").asInt());
    assertEquals(99, body.path("max_tokens").asInt());
    assertFalse(body.path("chat_template_kwargs").path("enable_thinking").asBoolean(true));
  }

  @Test
  void compatSwitches() {
    JsonNode body = UpstreamCalls.encode(model("openai-completions",
        ", compat: { supportsUsageInStreaming: false, maxCompletionTokens: true }"), ROUND_TRIP, true).body();
    assertFalse(body.has("stream_options"));
    assertFalse(body.has("max_tokens"));
    assertEquals(512, body.path("max_completion_tokens").asInt());
  }

  @Test
  void namedToolChoiceAndReasoningEffort() {
    ModelRequest named = new ModelRequest(null, List.of(new Message(Role.USER, "x")), List.of(), "weather", 100, null, "low");
    assertEquals("weather", UpstreamCalls.encode(model("openai-responses", ""), named, true).body().at("/tool_choice/name").asText());
    assertEquals("low", UpstreamCalls.encode(model("openai-responses", ""), named, true).body().at("/reasoning/effort").asText());
    assertEquals("weather", UpstreamCalls.encode(model("openai-completions", ""), named, true).body()
        .at("/tool_choice/function/name").asText());
    assertEquals("low", UpstreamCalls.encode(model("openai-completions", ""), named, true).body().path("reasoning_effort").asText());
    assertEquals("tool", UpstreamCalls.encode(model("anthropic-messages", ""), named, true).body().at("/tool_choice/type").asText());
  }
}

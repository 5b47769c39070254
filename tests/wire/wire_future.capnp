# Test only: what a later version of wire/troupe.capnp may look like, written by the
# evolution rules at the top of that file (fields, enumerants and union members appended with
# new ordinals, existing ones untouched). wire_codec_test checks that today's codec and a peer
# built from this schema understand each other in both directions.
@0x83d1059fd6ccd08b;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire::future");

struct SamplingParams {
  temperature @0 :Float32 = 1.0;
  topK @1 :Int32 = 0;
  topP @2 :Float32 = 1.0;
  minP @3 :Float32 = 0.0;
  repetitionPenalty @4 :Float32 = 1.0;
  presencePenalty @5 :Float32 = 0.0;
  frequencyPenalty @6 :Float32 = 0.0;
  seed :union {
    none @7 :Void;
    value @8 :UInt64;
    fromRequestId @16 :Void;   # new union member: today's decoder must reject it
  }
  maxTokens @9 :Int32 = 16;
  ignoreEos @10 :Bool = false;
  logprobs @11 :Int32 = -1;    # in today's schema too
  minTokens @12 :Int32 = 0;    # in today's schema too
  stopTokenIds @13 :List(Int32);
  logitBias @14 :List(LogitBias);
  promptLogprobs @15 :Int32 = -1;  # in today's schema too
  beamWidth @17 :Int32 = 1;    # new field: today's decoder ignores it
}

struct LogitBias {
  tokenId @0 :Int32;
  bias @1 :Float32;
}

struct ScheduledSequence {
  seqId @0 :UInt64 = 0;
  isNew @1 :Bool = false;
  promptTokenIds @2 :List(Int32);
  outputTokenIds @3 :List(Int32);
  numComputedTokens @4 :Int32 = 0;
  tokenIds @5 :List(Int32);
  obsoletePositions @6 :List(Int32);
  obsoleteBlockTable @7 :List(Int32);
  obsoleteSlotMapping @8 :List(Int32);
  wantsLogits @9 :Bool = false;
  numOutputTokens @10 :Int32 = 0;
  samplingParams @11 :SamplingParams;
  numPromptLogprobs @12 :Int32 = 0;    # in today's schema too
  newBlockIds @13 :List(Int32);        # in today's schema too
  loraId @14 :UInt32 = 7;              # new fields: a wider struct in a struct list
  mropePositions @15 :List(Int32);
}

struct StepPlan {
  stepId @0 :UInt64 = 0;
  blockSize @1 :Int32 = 16;
  sequences @2 :List(ScheduledSequence);
  finishedSeqIds @3 :List(UInt64);
  preemptedSeqIds @4 :List(UInt64);
  numBatchedTokens @5 :Int32 = 0;
  numCachedTokens @6 :Int32 = 0;
  deadlineMicros @7 :UInt64 = 0;       # new fields
  traceId @8 :Text;
}

enum FinishReason {
  stop @0;
  length @1;
  abort @2;
  stopString @3;                       # new enumerant: today's decoder must reject it
}

struct FinishedSequence {
  id @0 :UInt64 = 0;
  outputTokenIds @1 :List(Int32);
  reason @2 :FinishReason = length;
  cachedTokens @3 :Int32 = 0;          # new field
}

export * from "./port.js";
export { type Logger, createStderrLogger } from "./log.js";
export { createMemoryEventBus, type MemoryEventBus, type MemoryEventBusOptions } from "./memory.js";
export {
  createKafkaConsumer,
  createKafkaPublisher,
  EVENT_CE_TYPE,
  EVENT_CONTENT_TYPE,
  ensureTopic,
  kafkaLogCreator,
  parseBrokers,
  type KafkaConnectionOptions,
  type KafkaConsumer,
  type KafkaConsumerOptions,
  type KafkaPublisher,
  type KafkaPublisherOptions,
} from "./kafka.js";
